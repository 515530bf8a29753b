"""Bad command lines end in one line and a non-zero status, never a traceback."""

from __future__ import annotations

from scale.cli.demo import main as demo_main
from scale.cli.finalize import main as finalize_main


def test_demo_with_a_bad_override_says_so_in_one_line(capsys):
    assert demo_main(["data=nope"]) == 2
    out = capsys.readouterr().out
    assert "Could not find 'data/nope'" in out and "Traceback" not in out


def test_finalize_of_a_folder_that_is_no_run_dir(tmp_path, capsys):
    assert finalize_main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a run directory (no config.json)" in err and "Traceback" not in err
