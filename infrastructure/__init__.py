"""Infrastructure as code: Terraform, Helm charts, Argo CD manifests and Rego policies.

Its only Python is :mod:`infrastructure.validation`, the offline checks behind
``make validate-infra``.
"""
