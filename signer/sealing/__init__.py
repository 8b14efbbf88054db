"""Sealing agencies' PDFs (PAdES) with e-seal keys held in the HSM."""
