"""A plugin whose import fails, as a plugin with a missing dependency would."""

import irisfw_missing_dependency  # noqa: F401
