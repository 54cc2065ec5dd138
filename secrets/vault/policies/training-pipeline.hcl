# Training pipeline (KFP steps): the PII hash key for the anonymise step, the feature-store
# connection for Feast, and its own credentials (artifact store). Read only.
# Paths are KV v2 data paths under secret/mlops/<environment>/<area>; `+` is the environment.
path "secret/data/mlops/+/privacy" {
  capabilities = ["read"]
}

path "secret/data/mlops/+/feature-store" {
  capabilities = ["read"]
}

# The consent store's password: the ingest step leaves out subjects without consent.
path "secret/data/mlops/+/consent" {
  capabilities = ["read"]
}

path "secret/data/mlops/+/training" {
  capabilities = ["read"]
}
