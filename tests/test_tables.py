"""Tables: each data row carries its column names, a PDF's drawn table comes back as rows, and a question
about one cell is answered from its row (a PDF notice and a news page written for the eval, beside the
four articles)."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import ROOT, indexed_copy

ARTICLES = ROOT / "eval" / "articles"
PDF, PAGE = "library-renovation.pdf", "volcano-eruption.html"


def test_rows_carry_their_column_names_and_labelling_twice_changes_nothing():
    from ingest.tables import label_rows

    text = ("Prices:\n\n| Plan | Price | Rides |\n|---|---|---|\n| Day pass | £6 | unlimited |\n| Week | £15 |\n\n"
            "| Capacity | 48 liters |\n| Weight | 1.3 kg |")
    labelled = label_rows(text)
    assert "| Plan: Day pass | Price: £6 | Rides: unlimited |" in labelled
    assert "| Week | £15 |" in labelled  # a row of another width is left as it is
    assert "| Capacity | 48 liters |" in labelled  # two columns: a key and its value already
    assert label_rows(labelled) == labelled
    caption = ("| Measurements on Sunday |  |  |\n|---|---|---|\n| Time | Height | Quakes |\n|---|---|---|\n"
               "| 04:30 | 9.0 km | 65 |")
    assert label_rows(caption).endswith("| Time: 04:30 | Height: 9.0 km | Quakes: 65 |")


def test_columns_named_by_a_year_or_a_period_are_a_header_and_values_are_not():
    """A report's budget table names its columns by financial year ("2024/25 budget", "Q3 2024"): each cell
    of a row says which year it is, or £136,800 and £141,200 answer "the proposed budget" alike. A first row
    of values ("| Stage 1 | 12 km | 3 hours |") is data, not names."""
    from ingest.tables import label_rows

    budget = ("| Budget line | 2024/25 budget | 2025/26 proposed |\n| Staff costs | £136,800 | £141,200 |\n"
              "| Insurance | £22,400 | £23,900 |")
    labelled = label_rows(budget)
    assert "| Budget line: Staff costs | 2024/25 budget: £136,800 | 2025/26 proposed: £141,200 |" in labelled
    assert label_rows(labelled) == labelled
    quarters = "| Division | Q3 2024 | Q3 2023 |\n| Retail | 12.1 | 11.4 |"
    assert label_rows(quarters).endswith("| Division: Retail | Q3 2024: 12.1 | Q3 2023: 11.4 |")
    stages = "| Stage 1 | 12 km | 3 hours |\n| Stage 2 | 9 km | 2 hours |"
    assert label_rows(stages) == stages


def test_a_pdf_table_comes_back_as_labelled_rows_across_a_page_break():
    """pypdf's plain text has one cell a line; the rows come from its layout text, and the rows on the next
    page keep the first page's header. The prose around the table reads as before."""
    from ingest import load_article

    text = load_article(ARTICLES / PDF).text
    assert "| Phase: 2 | Work: Roof replacement and solar panels | Dates: June – October 2025 | Cost: £940,000 |" in text
    assert "| Phase: 5 | Work: Return of books and reopening | Dates: September 2026 | Cost: £220,000 |" in text
    assert "\n£940,000\n" not in text
    assert "The total budget for the project is £3.8 million." in text


def test_a_table_row_offers_its_values_not_its_labels_or_bars():
    from rag.spans import spans, value_key

    row = "| Time: 14:00 | Ash column height: 6.1 km | Sulphur dioxide (tonnes per day): 12,900 |"
    texts = {s.text for s in spans(row)}
    assert {"14:00", "6.1 km", "12,900"} <= texts
    assert not any("|" in t or "Sulphur" in t or "Time" in t for t in texts)
    assert value_key(row, row.index("12,900")) == "Sulphur dioxide (tonnes per day)"


def test_a_number_with_separators_is_one_word():
    """"at 10:00" matches the 10:00 row, not the "10" of "10,600" in another row."""
    from sourcechat.text import words

    assert words("At 10:00, 10,600 tonnes; 6.1 km in 2022.") == ["at", "10:00", "10,600", "tonnes", "6.1", "km", "in", "2022"]


@pytest.fixture(scope="module")
def tabled(tmp_path_factory, indexed):
    from ingest import run_ingest
    from rag import Assistant

    settings = indexed_copy(indexed, tmp_path_factory.mktemp("tables"))
    for name in (PDF, PAGE):
        shutil.copy(ARTICLES / name, settings.sources_dir / name)
    report = run_ingest(settings)
    assert report.added == 2 and not report.failed
    return Assistant(settings)


@pytest.mark.parametrize("question, value, source", [
    ("What does the roof and solar panel phase cost?", "£940,000", PDF),
    ("What was the ash column height at 04:30?", "9.0 km", PAGE),
])
def test_a_question_about_a_cell_is_answered_from_its_row(tabled, question, value, source):
    """The row is the first passage cited, and a short answer, where confidence allows one, is that cell's
    value alone."""
    result = tabled.ask(question)
    assert not result["refused"] and result["answer"] in {value, ""}, result["text"]
    first = result["citations"][0]
    assert first["source"] == source and first["quote"].startswith("|") and value in first["quote"], result["text"]


def _two_column_pdf(path) -> None:
    """A bulletin page as typesetting makes one: prose in the left column and, beside it on the same lines,
    a table in the right one (years as its column names); on a second page, a full-width table of row
    headings under a header with an empty corner, its rows a blank line apart."""
    from reportlab.pdfgen import canvas

    prose = ["The society counted seals on three low tides", "in August, from four boats and two shore",
             "stations. Counts were made within two hours", "of low water, when the banks are exposed.",
             "Conditions were good on all three days,", "with light westerly winds and no rain."]
    table = [["Site", "2022", "2023"], ["Gannet Spit", "148", "171"], ["Mussel Scar", "97", "118"],
             ["Hollin Bank", "64", "59"]]
    c = canvas.Canvas(str(path))
    for n, line in enumerate(prose):
        c.drawString(50, 760 - 14 * n, line)
    for n, row in enumerate(table):
        for x, cell in zip((330, 440, 500), row):
            c.drawString(x, 760 - 14 * n, cell)
    c.showPage()
    c.drawString(50, 760, "The ferry operator proposes these changes to the winter service.")
    c.drawString(300, 730, "Current")
    c.drawString(420, 730, "Proposed")
    for n, row in enumerate([["Sailings each way on weekdays", "12", "9"], ["First sailing", "06:40", "07:15"]]):
        for x, cell in zip((50, 300, 420), row):
            c.drawString(x, 700 - 30 * n, cell)
    c.showPage()
    c.save()


def test_a_table_beside_prose_in_a_two_column_pdf_comes_back_as_labelled_rows(fresh, tmp_path):
    """pypdf's layout text puts a table set in one column on the same lines as the other column's prose,
    and a table of row headings a blank line apart: both come back as rows under their column names, the
    prose reads as before, and a question about one cell is answered from its row."""
    from ingest import load_article, run_ingest
    from rag import Assistant

    pdf = tmp_path / "seal-bulletin.pdf"
    _two_column_pdf(pdf)
    text = load_article(pdf).text
    assert "| Site: Mussel Scar | 2022: 97 | 2023: 118 |" in text  # years name the columns
    assert "| Sailings each way on weekdays | Current: 12 | Proposed: 9 |" in text  # the corner is empty
    assert "\n97\n" not in text and "The society counted seals on three low tides\nin August" in text
    assert run_ingest(fresh, [str(pdf)]).added == 1
    result = Assistant(fresh).ask("How many seals were counted at Mussel Scar in 2022?")
    assert result["citations"][0]["source"] == "seal-bulletin.pdf" and "97" in result["text"]


def test_a_table_with_column_names_stacked_over_lines_comes_back_as_labelled_rows():
    """A journal's table: names stacked over three lines with superscript units that pypdf's layout sets on
    lines of their own ("ha" under "−1)"), and values the plain text writes one cell a line. The value rows
    match exactly; the names are read per column; the plain lines of the names go, since they hold the same
    characters."""
    from ingest.tables import splice_pdf_tables

    plain = ("Table 1. Soil properties of the meadows.\nSite\n Stocking\nrate (LU\n ha−1)\n Elevation\n (m)\n Soil pH\n"
             " Basal\nrespiration\n(µg CO2-C g\nFellside Meadow (FM)\n 0\n 455\n 5.1 ± 0.1\n 1.84\nRavensgill (RG)\n 0.4\n"
             " 410\n 5.4 ± 0.2\n 1.77\nHobthorn Bank (HB)\n 0.9\n 362\n 5.8 ± 0.1\n 1.49\n"
             " By contrast, pH rose along the gradient.")
    layout = ("Table 1. Soil properties of the meadows.\n"
              "                      Stocking                                 Basal\n"
              " Site                 rate (LU         Elevation   Soil pH     respiration\n"
              "                        −1)                (m)                 (µg CO\n"
              "                        ha                                     2-C g\n"
              " Fellside Meadow (FM)    0              455        5.1 ± 0.1    1.84\n"
              " Ravensgill (RG)         0.4            410        5.4 ± 0.2    1.77\n"
              " Hobthorn Bank (HB)      0.9            362        5.8 ± 0.1    1.49\n"
              "    By contrast, pH rose along the gradient.")
    text = splice_pdf_tables(plain, layout)
    assert ("| Site: Ravensgill (RG) | Stocking rate (LU ha: 0.4 | Elevation (m): 410 | Soil pH: 5.4 ± 0.2 | "
            "Basal respiration (µg CO 2-C g: 1.77 |") in text
    assert "\n Elevation\n" not in text and "Table 1. Soil properties" in text and "By contrast" in text


BUDGET = ("# Harbour board budget\n\nThe board met on 6 March 2025 and approved its budget for the coming year.\n\n"
          "| Budget line | 2024/25 budget | 2025/26 proposed |\n|---|---|---|\n"
          "| Staff costs | £136,800 | £141,200 |\n| Insurance | £22,400 | £23,900 |\n\n"
          "| Test | Extraction (30 °C, 80% RH) | Extraction (27 °C, 60% RH) |\n|---|---|---|\n"
          "| Dehumidifier | 20 L/day | 12 L/day |\n\n"
          "| Area | Customers who lost power at peak | Still without power (6pm Tuesday) | Restored by |\n"
          "|---|---|---|---|\n| Dale | 22,800 | 1,750 | Friday |\n")
KEEPER = ("# Josiah Threlkeld\n\n- Born: 3 March 1852\n- Children: 6\n\n"
          "Threlkeld was born in Pellworthy, the third of five children of William Threlkeld, a net-maker.\n")


def test_a_value_is_read_under_its_column_name(fresh, tmp_path):
    """A column's name says what its values are: asked about 2025/26, the 2024/25 column's figure in the same
    row answers another question (the `other_key` feature), as the 30 °C column's does asked about 27 °C, and
    the column whose name the question says more of ("still without power at 6pm") is the one asked about,
    not another that shares one word ("customers"). A value whose key is the asked-for noun ("Children: 6")
    measures it, as "6 children" would, over a count in prose of someone else's ("five children of William")."""
    from ingest import run_ingest
    from rag import Assistant

    paths = []
    for name, text in (("harbour-budget.md", BUDGET), ("keeper.md", KEEPER)):
        paths.append(tmp_path / name)
        paths[-1].write_text(text, encoding="utf-8")
    assert run_ingest(fresh, [str(p) for p in paths]).added == 2
    assistant = Assistant(fresh)

    def winner(question: str) -> str:
        return next(line for line in assistant.explain(question).splitlines() if line.startswith("winner:"))

    assert "£141,200" in winner("What is the proposed staff costs budget for 2025/26?")
    assert "£22,400" in winner("How much was budgeted for insurance in 2024/25?")
    assert "12 L/day" in winner("How much water does the dehumidifier extract at 27 °C and 60% RH?")
    assert "1,750" in winner("How many Dale customers were still without power at 6pm on Tuesday?")
    assert "“6”" in winner("How many children did Josiah Threlkeld have?")
