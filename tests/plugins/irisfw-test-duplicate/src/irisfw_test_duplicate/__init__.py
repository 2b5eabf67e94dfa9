"""Registers a second backend called 'constant'."""

from irisfw_test_plugins.faulty import ConstantBackend

from irisfw import hookimpl


class SecondConstantBackend(ConstantBackend):
    name = "constant"


@hookimpl
def irisfw_register_backends(register):
    register(SecondConstantBackend)
