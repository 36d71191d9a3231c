"""Deployment artefacts of xray-guard (templates, SCP) and the offline SAM transform that `make cfn-lint` runs."""
