
import logging as _logging

# fontTools reports each font table it cannot subset at WARNING; not news for a stamp or a sample.
_logging.getLogger("fontTools").setLevel(_logging.ERROR)
# pyHanko notes that a CFF font has no ROS metadata (Laksaman has none); the identity mapping is right.
_logging.getLogger("pyhanko.pdf_utils.font.opentype").setLevel(_logging.ERROR)

from . import asn1_patch as _asn1_patch

_asn1_patch.apply()
