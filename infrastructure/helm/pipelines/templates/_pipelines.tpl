{{/* The compiled IR of a pipeline (files/pipelines/<name>.yaml), parsed. */}}
{{- define "pipelines.ir" -}}
{{- $text := .ctx.Files.Get (printf "files/pipelines/%s.yaml" .name) -}}
{{- if not $text -}}
{{- fail (printf "pipelines.%s: no compiled pipeline at files/pipelines/%s.yaml" .name .name) -}}
{{- end -}}
{{- $text -}}
{{- end -}}

{{/* <pipeline>-<appVersion>: PipelineVersion specs are immutable, so each release is a new one. */}}
{{- define "pipelines.versionName" -}}
{{- printf "%s-%s" .name (.ctx.Chart.AppVersion | lower | replace "+" "-") | trunc 253 -}}
{{- end -}}
