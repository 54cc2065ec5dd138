terraform {
  # Provider-less on purpose: it only reads the repository's cost configuration, so it can be
  # validated and tested offline and feeds the AWS provider's default_tags in every environment.
  required_version = ">= 1.11.0, < 2.0.0"
}
