"""Infrastructure as code: Terraform, Helm charts, Argo CD manifests and Rego policies.

Its Python: :mod:`infrastructure.validation`, the offline checks behind ``make validate-infra``,
and :mod:`infrastructure.local_stack`, the local reference deployment behind ``make up`` /
``make down`` (SeaweedFS, PostgreSQL, Redis and OpenBao as local processes).
"""
