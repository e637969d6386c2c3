"""TokenFile re-reads a rotated token file (as the kubelet rotates projected tokens)."""

import time

from informerd import TokenFile


def test_token_file_is_re_read_after_rotation(tmp_path):
    path = tmp_path / "token"
    path.write_text("first\n")
    source = TokenFile(str(path), reread=0.05)
    assert source.token() == "first"
    path.write_text("second")
    time.sleep(0.1)
    assert source.token() == "second"


def test_token_file_keeps_the_last_token_when_the_file_vanishes(tmp_path):
    path = tmp_path / "token"
    path.write_text("kept")
    source = TokenFile(str(path), reread=0.0)
    assert source.token() == "kept"
    path.unlink()
    assert source.token() == "kept"
