# hpcops.aws_hpc: fixed header of every script the collection sends (plugins/plugin_utils/_winrun.py).
# The parameters arrive as data: one JSON string, and for scripts that need secrets one SecureString
# holding a JSON object (win_powershell's sensitive_parameters keep it out of every log). Nothing is
# ever spliced into the text of a script. SupportsShouldProcess lets the read-only probes run in
# check mode; the apply scripts are never sent in check mode and refuse to run under -WhatIf.
[CmdletBinding(SupportsShouldProcess)]
param (
    [Parameter(Mandatory = $true)]
    [string]
    $ParamsJson,

    [System.Security.SecureString]
    $SecretsJson
)

# Stop at the first error; every body turns errors into messages that name the object and the cause.
$ErrorActionPreference = 'Stop'
