"""course.slides.decks: which lecture a name means, slide-metadata problems, and what `course build` makes of a lecture."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from toy_decks import lecture, make_root

from course.slides.decks import (SlidesError, build_lecture, count_slides, lecture_drift, lecture_ids, resolve_decks,
                                 slide_problems)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def three(tmp_path: Path) -> Path:
    return make_root(tmp_path, {"lecture1_ml_basics": lecture(), "lecture2_dnn_basics": lecture(),
                                "lecture10_cnns": lecture()})


def test_lectures_are_in_course_order(three: Path) -> None:
    assert lecture_ids(three) == ["lecture1_ml_basics", "lecture2_dnn_basics", "lecture10_cnns"]


@pytest.mark.parametrize("name, want", [
    ("all", ["lecture1_ml_basics", "lecture2_dnn_basics", "lecture10_cnns"]),
    ("lecture2_dnn_basics", ["lecture2_dnn_basics"]), ("2", ["lecture2_dnn_basics"]),
    ("lecture10", ["lecture10_cnns"]), ("cnns", ["lecture10_cnns"]), ("ML_Basics", ["lecture1_ml_basics"]),
    ("dnn", ["lecture2_dnn_basics"]), ("lecture1_ml_basics.ipynb", ["lecture1_ml_basics"]),
])
def test_a_name_means_one_lecture(three: Path, name: str, want: list[str]) -> None:
    decks = resolve_decks(three, [name])
    assert [d.id for d in decks] == want
    assert decks[0].path == three / "notebooks" / "lectures" / f"{want[0]}.ipynb"


def test_names_are_deduplicated_in_the_order_given(three: Path) -> None:
    assert [d.id for d in resolve_decks(three, ["cnns", "1", "lecture10_cnns"])] == ["lecture10_cnns",
                                                                                      "lecture1_ml_basics"]


@pytest.mark.parametrize("name, why", [("gans", "matches no lecture"), ("lecture", "could be any of"),
                                       ("7", "matches no lecture")])
def test_an_unknown_or_ambiguous_name_lists_the_lectures(three: Path, name: str, why: str) -> None:
    with pytest.raises(SlidesError, match=why) as err:
        resolve_decks(three, [name])
    assert "lecture1_ml_basics, lecture2_dnn_basics, lecture10_cnns" in str(err.value)


def test_no_lectures_is_said(tmp_path: Path) -> None:
    root = make_root(tmp_path, {})
    with pytest.raises(SlidesError, match="holds no notebooks"):
        resolve_decks(root, ["all"])


def test_a_sound_lecture_has_no_problems_and_counts_its_slides() -> None:
    nb = lecture()
    assert slide_problems(nb) == []
    assert count_slides(nb) == 4          # three "slide" cells and one "subslide"


def _problems(mutate) -> list[str]:
    nb = lecture()
    mutate(nb)
    return slide_problems(nb)


@pytest.mark.parametrize("mutate, expected", [
    (lambda nb: nb.cells[2].metadata.pop("slideshow"), "cell 2: ## A plot: no slide type"),
    (lambda nb: nb.cells[2].metadata.update(slideshow={"slide_type": "Slide"}), "slide type 'Slide' is not one of"),
    (lambda nb: nb.cells[0].metadata.update(slideshow={"slide_type": "-"}), "the first cell must start a slide"),
    (lambda nb: nb.cells[5].metadata.update(nbgrader={"grade": True}), "lectures are not graded"),
    (lambda nb: nb.cells[2].metadata.update(tags=["hide-input"]), "only means something on a code cell"),
    (lambda nb: setattr(nb.cells[5], "execution_count", 3), "has outputs; clear them"),
    (lambda nb: setattr(nb.cells[1], "source", "import course"), "no setup cell"),
])
def test_each_slide_metadata_problem_names_its_cell(mutate, expected: str) -> None:
    problems = _problems(mutate)
    assert len(problems) == 1 and expected in problems[0], problems


def test_an_executed_notebook_may_have_outputs() -> None:
    assert slide_problems(lecture(executed=True), source=False) == []
    assert any("has outputs" in p for p in slide_problems(lecture(executed=True), source=True))


def test_build_normalises_a_lecture_in_place_and_only_when_it_changed(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"lecture1_alpha": lecture(executed=True)}, repository="https://github.com/me/dl-course")
    [deck] = resolve_decks(root, ["all"])
    assert "carries outputs" in lecture_drift(root, deck)
    assert build_lecture(root, deck) is True
    built = nbformat.read(deck.path, as_version=4)
    assert "COURSE_INSTALL = 'course @ git+https://github.com/me/dl-course.git@v0.3.0'" in built.cells[1].source
    assert all(not c.outputs and c.execution_count is None for c in built.cells if c.cell_type == "code")
    assert [c.metadata.get("slideshow") for c in built.cells] == [c.metadata.get("slideshow") for c in lecture().cells]
    assert built.metadata.rise["theme"] == "white" and built.metadata.rise["scroll"] is True
    assert "width" not in built.metadata.rise, "a fixed canvas shifts RISE's slides off the window's left edge"
    assert lecture_drift(root, deck) is None and slide_problems(built) == []
    mtime = deck.path.stat().st_mtime_ns
    assert build_lecture(root, deck) is False and deck.path.stat().st_mtime_ns == mtime


def test_check_finds_what_build_would_change(tmp_path: Path) -> None:
    root = make_root(tmp_path, repository="https://github.com/me/dl-course")
    [deck] = resolve_decks(root, ["1"])
    assert "metadata.rise" in lecture_drift(root, deck)
    build_lecture(root, deck)
    (root / "pyproject.toml").write_text((root / "pyproject.toml").read_text().replace("0.3.0", "0.4.0"))
    assert "install command" in lecture_drift(root, deck), "a new release must reach the setup cell"
    build_lecture(root, deck)
    nb = nbformat.read(deck.path, as_version=4)
    nb.cells[5].execution_count = 7
    nbformat.write(nb, deck.path)
    assert "carries outputs" in lecture_drift(root, deck)


def test_a_lecture_with_problems_is_not_built(tmp_path: Path) -> None:
    nb = lecture()
    nb.cells[4].metadata.pop("slideshow")
    root = make_root(tmp_path, {"lecture1_alpha": nb})
    [deck] = resolve_decks(root, ["all"])
    before = deck.path.read_bytes()
    with pytest.raises(SlidesError, match=r"slide-metadata problems:\n  - cell 4"):
        build_lecture(root, deck)
    assert deck.path.read_bytes() == before


def test_the_course_lectures_are_sound_and_built() -> None:
    ids = lecture_ids(ROOT)
    assert ids == ["lecture1_ml_basics", "lecture2_dnn_basics", "lecture3_cnns", "lecture4_resnets_optimisers"]
    for deck in resolve_decks(ROOT, ["all"]):
        nb = nbformat.read(deck.path, as_version=4)
        assert slide_problems(nb) == [], deck.id
        assert count_slides(nb) >= 12, f"{deck.id}: {count_slides(nb)} slides"
        assert sum(c.metadata["slideshow"]["slide_type"] == "notes" for c in nb.cells) >= 5, \
            f"{deck.id}: an instructor deck has speaker notes"
        assert lecture_drift(ROOT, deck) is None, deck.id


def test_a_lecture_may_choose_its_live_slide_settings(tmp_path: Path) -> None:
    nb = lecture()
    nb.metadata["rise"] = {"transition": "fade"}
    root = make_root(tmp_path, {"lecture1_alpha": nb})
    [deck] = resolve_decks(root, ["all"])
    build_lecture(root, deck)
    rise = nbformat.read(deck.path, as_version=4).metadata.rise
    assert rise["transition"] == "fade" and rise["theme"] == "white"
    assert lecture_drift(root, deck) is None
