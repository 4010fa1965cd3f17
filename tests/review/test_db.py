"""Where FiftyOne's mongod comes from, and the environment vitflow sets for it."""

from __future__ import annotations

import os
import subprocess
import sys

from vit.review import db


def test_the_bundled_mongod_is_found():
    exe = db.find_mongod()
    assert exe is not None and exe.name == "mongod" and os.access(exe, os.X_OK)


def test_the_test_session_uses_its_own_database(fiftyone_db):
    import fiftyone as fo

    assert fo.config.database_uri == fiftyone_db == os.environ["FIFTYONE_DATABASE_URI"]
    assert fiftyone_db.startswith("mongodb://127.0.0.1:")
    assert fo.config.do_not_track and not fo.config.database_validation


def test_importing_vit_review_does_not_import_fiftyone():
    code = "import sys, vit.review; print('fiftyone' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
