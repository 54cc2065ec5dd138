variable "environment" {
  description = "Environment whose tag map is returned in `tags` (a key of `budgets` in the cost config)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be a short lower-case name such as dev, staging or prod."
  }
}

variable "config_path" {
  description = "Path of the cost configuration; null reads the repository's config/cost_optimization.yaml."
  type        = string
  default     = null
}
