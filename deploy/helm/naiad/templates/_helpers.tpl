{{/* Names and labels, in Helm's usual shape. */}}
{{- define "naiad.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "naiad.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "naiad.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "naiad.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "naiad.selectorLabels" -}}
app.kubernetes.io/name: {{ include "naiad.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "naiad.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "naiad.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "naiad.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "naiad.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image: an explicit tag, else appVersion (with -cuda when GPUs are requested). */}}
{{- define "naiad.image" -}}
{{- $tag := .Chart.AppVersion }}
{{- if gt (int .Values.gpu.count) 0 }}
{{- $tag = printf "%s-cuda" .Chart.AppVersion }}
{{- end }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default $tag) }}
{{- end }}

{{- define "naiad.modelsClaim" -}}
{{- .Values.modelRepository.pvc.existingClaim | default (printf "%s-models" (include "naiad.fullname" .)) }}
{{- end }}

{{/* preStop sleep + the server's drain + a margin: SIGKILL never cuts a drain short. */}}
{{- define "naiad.terminationGracePeriodSeconds" -}}
{{- add (int .Values.preStopSleepS) (ceil .Values.server.graceS) (int .Values.terminationMarginS) }}
{{- end }}

{{/*
Refuses values that contradict each other or that naiad cannot honour, with the reason,
instead of rendering pods that would silently ignore them.
*/}}
{{- define "naiad.checks" -}}
{{- include "naiad.securityChecks" . }}
{{- if and (eq .Values.modelRepository.source "emptyDir") (not .Values.modelRepository.initContainers) }}
{{- fail "modelRepository.source emptyDir needs modelRepository.initContainers that write the repository into the volume \"models\"" }}
{{- end }}
{{- if and (eq .Values.autoscaling.metric "queue") (not .Values.autoscaling.queue.metricName) }}
{{- fail "autoscaling.metric queue needs autoscaling.queue.metricName" }}
{{- end }}
{{- end }}
