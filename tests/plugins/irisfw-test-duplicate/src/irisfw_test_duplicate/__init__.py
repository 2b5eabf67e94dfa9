"""Registers a second backend called 'constant'."""

from irisfw import hookimpl
from irisfw_test_plugins.faulty import ConstantBackend


class SecondConstantBackend(ConstantBackend):
    name = "constant"


@hookimpl
def irisfw_register_backends(register):
    register(SecondConstantBackend)
