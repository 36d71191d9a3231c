# xray-guard developer entry points. Every target creates .venv on demand from the pinned requirements.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAGE ?= dev
# The Region deploy-central deploys to: CENTRAL_REGION, else AWS_REGION or AWS_DEFAULT_REGION as the operator set them
# (environment or command line), never the offline default below. Read before that default is set.
DEPLOY_REGION := $(or $(CENTRAL_REGION),$(AWS_REGION),$(if $(filter environment command%,$(origin AWS_DEFAULT_REGION)),$(AWS_DEFAULT_REGION)))
# Only for the offline targets (chalice package, the demo and tests build clients that need some Region); the
# packaged template names no Region. deploy-central passes --region explicitly instead.
export AWS_DEFAULT_REGION ?= us-east-1
# Python's bytecode cache even where PYTHONDONTWRITEBYTECODE is set (these machines set it): without it every test
# worker and child process compiles chalicelib, localaws and the tests (with pytest's assertion rewriting) again;
# collecting the suite took 8.3 s without the cache, 3.0 s with it. (`make package` writes and ships none.)
unexport PYTHONDONTWRITEBYTECODE

ifneq ($(filter deploy-central,$(MAKECMDGOALS)),)
ifeq ($(DEPLOY_REGION),)
$(error deploy-central: name the central Region, e.g. make deploy-central CENTRAL_REGION=eu-west-1 (or set AWS_REGION); the Makefile's us-east-1 default is for offline targets only)
endif
ifeq ($(strip $(ARTIFACT_BUCKET)),)
$(error deploy-central: set ARTIFACT_BUCKET, an S3 bucket in $(DEPLOY_REGION) for the Lambda zip)
endif
endif

.PHONY: help venv lint typecheck typecheck-start test check demo package cfn-lint bench deploy-central clean

help:
	@echo "make help       this list"
	@echo "make demo       run the responder end to end on the embedded local AWS (offline)"
	@echo "make test       lint + typecheck + cfn-lint + pytest (offline)"
	@echo "make check      the same as make test"
	@echo "make lint       ruff check and ruff format --check"
	@echo "make typecheck  mypy --strict"
	@echo "make typecheck-start  mypy --strict in the background, its result in build/mypy.rc (make test starts it first)"
	@echo "make cfn-lint   package, SAM transform offline, cfn-lint on it and on both member templates"
	@echo "make package    CloudFormation template + Lambda zip for the central account into build/package (offline)"
	@echo "make bench      benchmarks; writes BENCHMARKS.md"
	@echo "make venv       create .venv from the pinned requirements (every target does this on demand)"
	@echo "make clean      remove build/ and the tool caches"
	@echo "make deploy-central STAGE=prod CENTRAL_REGION=eu-west-1 ARTIFACT_BUCKET=bucket PARAMS=\"OrganizationId=o-... Mode=alert\""
	@echo "                deploy the central stack xray-guard-STAGE to CENTRAL_REGION (real AWS credentials needed)"

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

# mypy starts first and runs beside the lint, the package and cfn-lint (one process at a time: the second core is
# free), then beside pytest. Measured with three test workers (session 6), mypy with a cold cache then pytest vs side
# by side: 101 → 86 s, 137 → 118 s; with two workers the cores still idle 5-20 % of the pytest phase (vmstat over
# `make test` on a fresh clone: subprocesses, the tail). Its report follows the tests'; any step failing fails the
# target (a failed lint stops it before pytest; mypy then finishes on its own). Running the lint and cfn-lint beside
# pytest as well measured no better: 96.3 / 97.4 s against 91.1 / 99.3 s, interleaved, with ~30 s more CPU.
typecheck-start: venv
	@mkdir -p build; rm -f build/mypy.rc
	@( $(VENV)/bin/mypy > build/mypy.log 2>&1; echo $$? > build/mypy.rc.new; mv build/mypy.rc.new build/mypy.rc ) > /dev/null 2>&1 &

test: typecheck-start lint cfn-lint
	@$(VENV)/bin/pytest -q; tests=$$?; \
	while [ ! -f build/mypy.rc ]; do sleep 0.2; done; typed=$$(cat build/mypy.rc); \
	echo "mypy:"; cat build/mypy.log; \
	test $$tests -eq 0 -a $$typed -eq 0

check: test

demo: venv
	$(PY) -m demo

# chalice zips the project directory's chalicelib as it finds it, bytecode included. The recipe packages a copy of
# the sources without any (build/src; chalice, which imports app.py, writes none there): the size target counts
# sources, and nothing in the checkout, which running tests may be importing, is touched. The copy keeps chalice's
# dependency cache (.chalice/deployments) from one run to the next.
package: venv
	rm -rf build/package build/src/chalicelib && mkdir -p build/src
	tar -c --exclude=__pycache__ --exclude=./.chalice/deployments ./app.py ./requirements.txt ./.chalice ./chalicelib \
		| tar -x -C build/src
	PYTHONDONTWRITEBYTECODE=1 $(VENV)/bin/chalice --project-dir build/src package --stage $(STAGE) --merge-template $(CURDIR)/infra/central.json $(CURDIR)/build/package
	@ls -l build/package

# The packaged template as CloudFormation will run it (SAM transform offline, aws-sam-translator), then cfn-lint
# on it and on both member templates. The SCP and the policy files are checked by tests/test_infra.py.
cfn-lint: package
	$(PY) -m infra.sam_transform build/package/sam.json build/package/cloudformation.json
	$(VENV)/bin/cfn-lint build/package/cloudformation.json infra/member-roles.yaml infra/member-rules.yaml

bench: venv
	$(PY) -m bench

deploy-central: package
	$(VENV)/bin/aws cloudformation package --region $(DEPLOY_REGION) --template-file build/package/sam.json \
	  --s3-bucket "$(ARTIFACT_BUCKET)" --output-template-file build/package/packaged.yaml
	$(VENV)/bin/aws cloudformation deploy --region $(DEPLOY_REGION) --template-file build/package/packaged.yaml \
	  --stack-name xray-guard-$(STAGE) --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM \
	  $(if $(strip $(PARAMS)),--parameter-overrides $(PARAMS))

clean:
	rm -rf build .mypy_cache .ruff_cache .pytest_cache
