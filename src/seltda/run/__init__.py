"""The run folder: where every stage writes, and the typed artifacts it writes."""
