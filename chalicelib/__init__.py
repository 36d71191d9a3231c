"""xray-guard: keeps AWS X-Ray encryption on the approved customer-managed KMS key, everywhere."""

__version__ = "0.1.0"

# Appended to every AWS call's User-Agent: the responder recognises its own writes by it (plus its role).
USER_AGENT_MARKER = f"xray-guard/{__version__}"
