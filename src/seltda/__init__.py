"""seltda: SelTDA (Self-Taught Data Augmentation) for vision-language models.

Data flows one way: records -> teacher -> pseudo-labels -> student -> metrics -> report.
"""

__version__ = "0.1.0"
