"""The suite's own guard: a transactional test that is not serialized is refused at collection."""

from __future__ import annotations

import pytest
from django.test import TestCase, TransactionTestCase

from tests.conftest import unserialized_transactional


@pytest.mark.django_db(transaction=True)
def transactional():
    pass


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def transactional_serialized():
    pass


@pytest.mark.django_db(reset_sequences=True)
def resetting_sequences():
    pass


def live(live_server):
    pass


def live_serialized(live_server, django_db_serialized_rollback):
    pass


def in_a_transaction(db):
    pass


class Flushing(TransactionTestCase):
    __test__ = False  # examples, not tests

    def test_it(self):
        pass


class FlushingSerialized(TransactionTestCase):
    __test__ = False  # examples, not tests

    serialized_rollback = True

    def test_it(self):
        pass


class RollingBack(TestCase):
    __test__ = False  # examples, not tests

    def test_it(self):
        pass


def test_only_the_transactional_tests_that_are_not_serialized_are_named(request):
    module = request.node.parent
    functions = [
        pytest.Function.from_parent(module, name=f.__name__, callobj=f)
        for f in (
            transactional,
            transactional_serialized,
            resetting_sequences,
            live,
            live_serialized,
            in_a_transaction,
        )
    ]
    methods = [
        pytest.Function.from_parent(pytest.Class.from_parent(module, name=cls.__name__, obj=cls), name="test_it")
        for cls in (Flushing, FlushingSerialized, RollingBack)
    ]
    named = unserialized_transactional([*functions, *methods])
    assert [nodeid.split("::", 1)[1] for nodeid in named] == [
        "transactional",
        "resetting_sequences",
        "live",
        "Flushing::test_it",
    ]
