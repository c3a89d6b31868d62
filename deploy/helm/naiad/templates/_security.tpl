{{/*
TLS and auth: every secret the server reads, as one list that the Deployment turns into its
volumes, its volumeMounts and its flags, so a flag's path and its mount cannot drift apart.
Each entry: name (the volume), dir (where it is mounted), source (the volume source) and args.

Whole-volume mounts, never subPath: the kubelet swaps a Secret's files in place when the Secret
changes (a cert-manager renewal, a rotated key file), and naiad reloads them; a subPath mount
would keep the old file until the pod restarts.
*/}}
{{- define "naiad.secretMounts" -}}
{{- $tls := .Values.tls }}
{{- $keys := .Values.auth.apiKeys }}
{{- $jwt := .Values.auth.jwt }}
{{- /* 0440 with the pod's fsGroup: readable by naiad's group, by no one else. */}}
{{- $mode := 288 }}
{{- $mounts := list }}
{{- if $tls.enabled }}
{{- $dir := "/etc/naiad/tls" }}
{{- $args := list (printf "--tls-cert=%s/tls.crt" $dir) (printf "--tls-key=%s/tls.key" $dir) }}
{{- if and $tls.clientAuth (not $tls.clientCASecretName) }}
{{- $args = append $args (printf "--tls-client-ca=%s/ca.crt" $dir) }}
{{- end }}
{{- $mounts = append $mounts (dict "name" "tls" "dir" $dir "args" $args "source" (dict "secret" (dict "secretName" $tls.secretName "defaultMode" $mode))) }}
{{- if and $tls.clientAuth $tls.clientCASecretName }}
{{- $dir := "/etc/naiad/client-ca" }}
{{- $args := list (printf "--tls-client-ca=%s/ca.crt" $dir) }}
{{- $mounts = append $mounts (dict "name" "tls-client-ca" "dir" $dir "args" $args "source" (dict "secret" (dict "secretName" $tls.clientCASecretName "defaultMode" $mode))) }}
{{- end }}
{{- end }}
{{- if $keys.secretName }}
{{- $dir := "/etc/naiad/api-keys" }}
{{- $args := list (printf "--api-keys=%s/%s" $dir $keys.key) }}
{{- $mounts = append $mounts (dict "name" "api-keys" "dir" $dir "args" $args "source" (dict "secret" (dict "secretName" $keys.secretName "defaultMode" $mode))) }}
{{- end }}
{{- if or $jwt.jwksSecretName $jwt.jwksConfigMapName }}
{{- $dir := "/etc/naiad/jwks" }}
{{- $args := list (printf "--jwt-jwks=%s/%s" $dir $jwt.jwksKey) (printf "--jwt-issuer=%s" $jwt.issuer) (printf "--jwt-audience=%s" $jwt.audience) }}
{{- /* Public keys only: a ConfigMap is as good a home as a Secret. */}}
{{- $source := dict "configMap" (dict "name" $jwt.jwksConfigMapName) }}
{{- if $jwt.jwksSecretName }}
{{- $source = dict "secret" (dict "secretName" $jwt.jwksSecretName) }}
{{- end }}
{{- $mounts = append $mounts (dict "name" "jwks" "dir" $dir "args" $args "source" $source) }}
{{- end }}
{{- toYaml $mounts }}
{{- end }}

{{/* The probes' scheme: the HTTP port speaks TLS whenever the gRPC port does. */}}
{{- define "naiad.httpScheme" -}}
{{- ternary "HTTPS" "HTTP" (.Values.tls.enabled | default false) }}
{{- end }}

{{/*
TLS and auth values that contradict each other. Each would otherwise render pods that serve
with less protection than the values suggest, or that naiad refuses at start.
*/}}
{{- define "naiad.securityChecks" -}}
{{- $tls := .Values.tls }}
{{- $jwt := .Values.auth.jwt }}
{{- if and $tls.enabled (not $tls.secretName) }}
{{- fail "tls.enabled needs tls.secretName: a kubernetes.io/tls Secret with tls.crt and tls.key (and ca.crt for tls.clientAuth)" }}
{{- end }}
{{- if and (not $tls.enabled) $tls.secretName }}
{{- fail "tls.secretName is set but tls.enabled is false, so the server would serve plaintext: set tls.enabled=true, or clear tls.secretName" }}
{{- end }}
{{- if and $tls.clientAuth (not $tls.enabled) }}
{{- fail "tls.clientAuth (mutual TLS) needs tls.enabled and tls.secretName" }}
{{- end }}
{{- if and $tls.clientCASecretName (not $tls.clientAuth) }}
{{- fail "tls.clientCASecretName is set but tls.clientAuth is false, so client certificates would not be checked: set tls.clientAuth=true, or clear tls.clientCASecretName" }}
{{- end }}
{{- if and .Values.auth.apiKeys.secretName (not .Values.auth.apiKeys.key) }}
{{- fail "auth.apiKeys.key: the key of auth.apiKeys.secretName that holds the API keys TOML file (default api-keys.toml)" }}
{{- end }}
{{- if and $jwt.jwksSecretName $jwt.jwksConfigMapName }}
{{- fail "auth.jwt: set one of jwksSecretName and jwksConfigMapName, not both" }}
{{- end }}
{{- $jwks := or $jwt.jwksSecretName $jwt.jwksConfigMapName }}
{{- if and $jwks (not (and $jwt.issuer $jwt.audience $jwt.jwksKey)) }}
{{- fail "auth.jwt needs issuer and audience (and jwksKey) with a key set: a token is accepted only from that issuer and for that audience, never for any service the key set signs for" }}
{{- end }}
{{- if has "--authenticate-health" .Values.server.extraArgs }}
{{- fail "server.extraArgs --authenticate-health: the kubelet's probes carry no token, so no pod would ever become ready; leave health open (naiad's default)" }}
{{- end }}
{{- if and (not $jwks) (or $jwt.issuer $jwt.audience) }}
{{- fail "auth.jwt.issuer/audience are set without a key set: set auth.jwt.jwksSecretName or auth.jwt.jwksConfigMapName, or tokens would not be checked at all" }}
{{- end }}
{{- end }}
