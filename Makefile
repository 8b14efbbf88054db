# govca: `make run` sets everything up and starts the demo CA; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GOVCA_HOME ?= $(CURDIR)/govca-data
export GOVCA_HOME

.PHONY: install system-packages test-packages run test lint-imports bench clean

# Debian packages the service needs: SoftHSM2 (the embedded HSM), OpenSSL, nginx (the buffering
# front of `govca serve`), and the Thai font of the stamp (TLWG build of TH Sarabun).
system-packages:
	@missing=""; \
	command -v softhsm2-util >/dev/null || missing="$$missing softhsm2"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	PATH="$$PATH:/usr/sbin" command -v nginx >/dev/null || missing="$$missing nginx"; \
	[ -f /usr/share/fonts/opentype/tlwg/Laksaman.otf ] || missing="$$missing fonts-tlwg-laksaman-otf"; \
	$(call apt_install,$$missing)

# ... and what the tests and benchmarks use besides: poppler (pdfsig, pdftoppm), NSS tools,
# zbar (QR decoding), Chromium (page tests through Playwright), wrk (load), xmlsec1 (XMLDSig checks).
test-packages:
	@missing=""; \
	command -v pdfsig >/dev/null || missing="$$missing poppler-utils"; \
	command -v certutil >/dev/null || missing="$$missing libnss3-tools"; \
	command -v zbarimg >/dev/null || missing="$$missing zbar-tools"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v xmlsec1 >/dev/null || missing="$$missing xmlsec1"; \
	$(call apt_install,$$missing)

define apt_install
if [ -n "$(1)" ]; then \
	  echo "installing Debian packages:$(1)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(1); \
	fi
endef

$(VENV)/.installed: setup.cfg requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[test]'
	$(BIN)/pip check
	@touch $@

install: system-packages $(VENV)/.installed

run: install
	$(BIN)/govca demo
	$(BIN)/govca serve --host 127.0.0.1 --port 8080

lint-imports: install
	$(BIN)/lint-imports

test: install test-packages lint-imports
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: install test-packages
	$(BIN)/pip install -q -c requirements.lock -e '.[test,bench]'
	$(BIN)/python bench/issuance.py
	$(BIN)/python bench/ocsp.py
	$(BIN)/python bench/sign.py
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/csc.py
	$(BIN)/python bench/wrong_token.py
	$(BIN)/python bench/fuzz.py
	$(BIN)/python bench/revocation.py

clean:
	rm -rf $(VENV) govca-data test-output .pytest_cache
