"""XAdES (ETSI EN 319 132-1) for XML documents: sealing (sign.py, ltv.py, service.py, http.py) and
what the verifier shares with it (model.py). Deliberately free of imports: signer.verification
imports signer.xades.model, and must not load the signing side with it."""
