{{/* The namespace of every namespaced object: namespace.name, else the release's. */}}
{{- define "informerd.namespace" -}}
{{- .Values.namespace.name | default .Release.Namespace -}}
{{- end }}

{{/* The labels of every object; also the pods' selector. */}}
{{- define "informerd.labels" -}}
app.kubernetes.io/name: {{ .Values.name }}
{{- end }}

{{/* The ServiceAccount as an RBAC subject. */}}
{{- define "informerd.subject" -}}
- kind: ServiceAccount
  name: {{ .Values.name }}
  namespace: {{ include "informerd.namespace" . }}
{{- end }}

{{/*
The ClusterRole's rules: get/list/watch on every informer.resources entry, one rule per API
group. A name is kubectl-style: `pods` (core), `deployments.apps` (resource.group) or
`widgets.v1.example.com` (resource.version.group).
*/}}
{{- define "informerd.resourceRules" -}}
{{- $groups := dict -}}
{{- range .Values.informer.resources -}}
{{- $name := . -}}
{{- if kindIs "map" . }}{{ $name = get . "name" }}{{ end -}}
{{- $parts := splitList "." $name -}}
{{- $group := "" -}}
{{- if and (ge (len $parts) 3) (regexMatch "^v[0-9]+((alpha|beta)[0-9]+)?$" (index $parts 1)) -}}
{{- $group = slice $parts 2 | join "." -}}
{{- else if ge (len $parts) 2 -}}
{{- $group = rest $parts | join "." -}}
{{- end -}}
{{- $_ := set $groups $group (append (get $groups $group | default list) (first $parts) | uniq) -}}
{{- end -}}
{{- range $group := keys $groups | sortAlpha }}
- apiGroups: [{{ $group | quote }}]
  resources: {{ get $groups $group | toJson }}
  verbs: ["get", "list", "watch"]
{{- end }}
{{- end }}
