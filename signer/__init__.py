
import logging as _logging

# fontTools reports each font table it cannot subset at WARNING; not news for a stamp or a sample.
_logging.getLogger("fontTools").setLevel(_logging.ERROR)
