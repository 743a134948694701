from transformers import BlipForConditionalGeneration, BlipForQuestionAnswering, BlipProcessor

from seltda.models.tiny_blip import bundled_vocab_file, vocabulary_subset


def test_bundled_vocabulary_is_bert_uncased():
    lines = bundled_vocab_file().read_text().splitlines()
    assert len(lines) == 30522 and lines[0] == "[PAD]"


def test_subset_covers_corpus_words_and_falls_back_to_characters(tiny_model):
    tokenizer = BlipProcessor.from_pretrained(tiny_model).tokenizer
    for word in ["shape", "circle", "color"]:
        assert tokenizer.tokenize(word) == [word]
    unseen = tokenizer.tokenize("hexagon")
    assert "[UNK]" not in unseen and len(unseen) > 1
    assert tokenizer.bos_token == "[DEC]" and tokenizer.convert_tokens_to_ids("[DEC]") == len(tokenizer) - 1


def test_subset_is_deterministic_and_small():
    texts = ["question: what shape? answer: circle"]
    assert vocabulary_subset(texts) == vocabulary_subset(texts)
    assert len(vocabulary_subset(texts)) < 300


def test_folder_loads_as_student_and_teacher(tiny_model):
    student = BlipForQuestionAnswering.from_pretrained(tiny_model)
    teacher = BlipForConditionalGeneration.from_pretrained(tiny_model)
    for name, weight in teacher.vision_model.state_dict().items():
        assert (weight == student.vision_model.state_dict()[name]).all()
    assert student.config.vision_config.initializer_range == 0.02
    tokenizer = BlipProcessor.from_pretrained(tiny_model).tokenizer
    assert student.config.text_config.bos_token_id == tokenizer.bos_token_id
    assert student.config.text_config.vocab_size == len(tokenizer)
