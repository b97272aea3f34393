"""[metrics] settings and label values of the daemon's metrics."""

from __future__ import annotations

import pytest

from vahti.config import load_config
from vahti.errors import VahtiError
from vahti.scheduler.metrics import (
    OTHER,
    RESULTS,
    MetricsSettings,
    is_loopback,
    label,
    parse_listen,
)


def settings(tmp_path, **env: str) -> MetricsSettings | None:
    environ = {f"VAHTI_METRICS_{k.upper()}": v for k, v in env.items()}
    return MetricsSettings.from_config(load_config(home_flag=str(tmp_path), environ=environ))


def test_off_unless_configured_and_loopback_unless_allowed(tmp_path):
    assert settings(tmp_path) is None
    on = settings(tmp_path, listen="127.0.0.1:9464")
    assert (on.host, on.port, on.url) == ("127.0.0.1", 9464, "http://127.0.0.1:9464/metrics")
    assert settings(tmp_path, listen="[::1]:9464").url == "http://[::1]:9464/metrics"
    assert settings(tmp_path, listen="localhost:1").host == "localhost"
    for public in ("0.0.0.0:9464", "192.0.2.7:9464", "[::]:9464", "metrics.example:9464"):
        with pytest.raises(VahtiError, match="is not a loopback address: metrics stay on "
                                             r"this host unless \[metrics\] allow_remote"):
            settings(tmp_path, listen=public)
        assert settings(tmp_path, listen=public, allow_remote="true").port == 9464


def test_bad_addresses_are_one_line_errors():
    for bad in ("9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":9464", "h:x"):
        with pytest.raises(VahtiError, match="is not HOST:PORT"):
            parse_listen(bad)
    assert is_loopback("127.8.9.10") and is_loopback("::1") and not is_loopback("10.0.0.1")


def test_label_values_are_config_names_or_a_fixed_set_else_other():
    assert label("pastes") == "pastes" and label("forum-2_a") == "forum-2_a"
    for hostile in ("http://x.onion/raw/abc", "131052-308T", "Pastes", "a b", "", "x" * 64,
                    "matti@example.fi", None):
        assert label(hostile) == OTHER, hostile
    assert label("done", RESULTS) == "done" and label("weird", RESULTS) == OTHER
