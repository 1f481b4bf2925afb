# hpcops.aws_hpc: fixed footer of every script: run the body, return one JSON object.
try {
    Invoke-HpcScript
}
catch {
    $Result.failed = $true
    $Result.msg = $_.Exception.Message
}
$Ansible.Result = ConvertTo-Json -InputObject $Result -Depth 10 -Compress
$Ansible.Changed = [bool]$Result.changed
