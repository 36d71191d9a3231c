# xray-guard developer entry points. Every target creates .venv on demand from the pinned requirements.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAGE ?= dev
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help venv lint typecheck test check demo package cfn-lint bench deploy-central clean

help:
	@echo "make demo      run the responder end to end on the embedded local AWS"
	@echo "make test      ruff + mypy --strict + cfn-lint + pytest"
	@echo "make bench     benchmarks; writes BENCHMARKS.md"
	@echo "make package   CloudFormation template + Lambda zip for the central account into build/"
	@echo "make deploy-central STAGE=prod   deploy the packaged template (real AWS credentials needed)"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<26.3"  # chalice 1.34.0 requires pip<26.3
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

test: lint typecheck cfn-lint
	$(VENV)/bin/pytest -q

check: test

demo: venv
	$(PY) -m demo

package: venv
	rm -rf build/package && mkdir -p build
	find chalicelib -name __pycache__ -prune -exec rm -rf {} +
	$(VENV)/bin/chalice package --stage $(STAGE) --merge-template infra/central.json build/package
	@ls -l build/package

# The packaged template as CloudFormation will run it (SAM transform offline, aws-sam-translator), then cfn-lint
# on it and on both member templates. The SCP and the policy files are checked by tests/test_infra.py.
cfn-lint: package
	$(PY) -m infra.sam_transform build/package/sam.json build/package/cloudformation.json
	$(VENV)/bin/cfn-lint build/package/cloudformation.json infra/member-roles.yaml infra/member-rules.yaml

bench: venv
	$(PY) -m bench

deploy-central: package
	$(VENV)/bin/aws cloudformation package --template-file build/package/sam.json \
	  --s3-bucket "$${ARTIFACT_BUCKET:?set ARTIFACT_BUCKET}" --output-template-file build/package/packaged.yaml
	$(VENV)/bin/aws cloudformation deploy --template-file build/package/packaged.yaml \
	  --stack-name xray-guard-$(STAGE) --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM \
	  --parameter-overrides $(PARAMS)

clean:
	rm -rf build .mypy_cache .ruff_cache .pytest_cache
