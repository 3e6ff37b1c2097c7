"""A run's outputs: the CSV and the settings JSON beside it."""

import pytest

from skpoison.experiments import read_csv
from skpoison.experiments._json_files import read_json
from skpoison.experiments._outputs import write_tables


def test_a_run_killed_while_it_replaces_another_leaves_no_settings_that_lie(tmp_path,
                                                                          monkeypatch):
    # Killed between its CSV and its settings JSON, a run that replaced one of
    # other settings left its CSV beside the earlier run's settings: a file that
    # says it holds the settings behind the CSV, and held others.
    write_tables([{"a": 1}], {"config": {"seed": 0}}, tmp_path, "s", cells=False)

    def killed(path, payload):
        raise KeyboardInterrupt

    monkeypatch.setitem(write_tables.__globals__, "write_json_atomic", killed)
    with pytest.warns(UserWarning, match="earlier run with other settings"), \
            pytest.raises(KeyboardInterrupt):
        write_tables([{"a": 2}], {"config": {"seed": 3}}, tmp_path, "s", cells=False)
    assert read_csv(tmp_path / "s.csv") == [{"a": 2}]
    settings = tmp_path / "s_settings.json"
    assert not settings.exists() or read_json(settings)["config"] == {"seed": 3}
    monkeypatch.undo()
    write_tables([{"a": 2}], {"config": {"seed": 3}}, tmp_path, "s", cells=False)
    assert read_json(settings)["config"] == {"seed": 3}
