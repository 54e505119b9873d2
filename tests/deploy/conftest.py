"""Fixtures of the deployment test: the template expanded once, and one deployment of it
(moto_server, the stack, the release binaries) shared by the scenario tests."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from deployment import Deployment  # noqa: E402
from stack import ROOT, expand  # noqa: E402

REPORTS = ROOT / "target" / "deploy-test"


@pytest.fixture(scope="session")
def expanded(tmp_path_factory):
    return expand(ROOT / "template.yaml", tmp_path_factory.mktemp("expanded") / "template.json")


@pytest.fixture(scope="module")
def deployment(expanded):
    d = Deployment(expanded)
    try:
        d.deploy()
        d.start()
        yield d
    finally:
        d.close()
