"""Documents as data: the machine-readable parts that travel with a sealed document (PDF/A-3
associated files, XML documents sealed with XAdES), parsed safely, and the govca schemas the
verification page knows by name."""
