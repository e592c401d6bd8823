"""The gradient-pitfalls gallery moved to :mod:`scratch.pitfalls`: the kit's diagnosis needs it,
so it lives beside the kit.  This name stays for code that imports it from the lab; it is the
same module object (patching one patches the other)."""

import sys

from .. import pitfalls as _gallery

sys.modules[__name__] = _gallery
