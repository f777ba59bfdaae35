from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.model.normalize import STEPS, ArabicNormalizer, normalize_text

ALL_STEPS = list(STEPS)


def test_default_normalization_of_a_news_line():
    text = "أعلنت الشرطةُ إِلقاءَ القبض على ٣ متهمين  في آذار… مـــدينة الإسكندرية"
    result = ArabicNormalizer().transform([text])[0]
    assert result == "اعلنت الشرطة القاء القبض علي 3 متهمين في اذار… مدينة الاسكندرية"


def test_each_step_does_its_one_job():
    assert normalize_text("مُحَمَّدٌ", ["remove_diacritics"]) == "محمد"
    assert normalize_text("الرحمٰن", ["remove_diacritics"]) == "الرحمن"  # superscript alef
    assert normalize_text("جـــميل", ["remove_tatweel"]) == "جميل"
    assert normalize_text("أإآٱ", ["unify_alef"]) == "اااا"
    assert normalize_text("على", ["alef_maqsura_to_ya"]) == "علي"
    assert normalize_text("مدينة", ["teh_marbuta_to_heh"]) == "مدينه"
    assert normalize_text("٢٠٢٥ و۱۴", ["arabic_digits_to_ascii"]) == "2025 و14"
    assert (
        normalize_text("انظر https://x.org/a?b=1 الآن", ["remove_urls", "collapse_whitespace"])
        == "انظر الآن"
    )
    assert normalize_text("شكرا @وزارة_الصحة", ["remove_mentions", "collapse_whitespace"]) == "شكرا"
    assert normalize_text("#لقاح_كورونا مهم", ["remove_hashtag_signs"]) == "لقاح كورونا مهم"
    assert normalize_text("رائع 👍🏽 جدا", ["remove_emoji", "collapse_whitespace"]) == "رائع جدا"


def test_emoji_removal_and_teh_marbuta_off_by_default():
    normalizer = ArabicNormalizer(remove_emoji=True)
    assert normalizer.transform(["رائع 😀😀 جدا"]) == ["رائع جدا"]
    assert ArabicNormalizer().transform(["مدينة"]) == ["مدينة"]


def test_transformer_reads_a_dataframe_column_and_lists():
    import pandas as pd

    frame = pd.DataFrame({"id": [1], "body": ["الأمن"]})
    assert ArabicNormalizer(text_column="body").transform(frame) == ["الامن"]
    assert ArabicNormalizer().transform(["الأمن"]) == ["الامن"]


flags = st.fixed_dictionaries({name: st.booleans() for name in ALL_STEPS})


@settings(max_examples=300, deadline=None)
@given(text=st.text(), options=flags)
def test_never_raises_and_is_idempotent(text, options):
    steps = [name for name in ALL_STEPS if options[name]]
    once = normalize_text(text, steps)
    assert isinstance(once, str)
    assert normalize_text(once, steps) == once


ARABIC_AND_MARKS = st.text(
    alphabet=st.sampled_from(list("ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأإٱىة#@_ـً ٌٍَُِّْٰ٣۴ \n😀")),
)


@settings(max_examples=300, deadline=None)
@given(text=ARABIC_AND_MARKS)
def test_idempotent_on_dense_arabic_with_marks_and_signs(text):
    steps = ALL_STEPS
    once = normalize_text(text, steps)
    assert normalize_text(once, steps) == once
