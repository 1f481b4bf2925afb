# win_hpc_computenode probe (read-only): the certificates on the head node's install share and in
# the local folder (the share is read with the task's become credentials: the double hop), whether the
# head node's public certificate is trusted in LocalMachine\Root, whether HPC Pack is installed (the
# HpcNodeManager service), and this node as the head node sees it (Get-HpcNode).
function Invoke-HpcScript {
    $Result.computer_name = $env:COMPUTERNAME
    if ($Params.state -eq 'present') {
        $certificates = [ordered]@{ local = [ordered]@{}; share = [ordered]@{}; share_error = $null }
        foreach ($name in @($Params.certificate_files)) {
            $certificates.local[$name] = Get-HpcFileInfo -Path (Join-Path -Path $Params.certificate_dir -ChildPath $name)
            try {
                $certificates.share[$name] = Get-HpcFileInfo -Path (Join-Path -Path $Params.share -ChildPath $name)
            }
            catch {
                $certificates.share[$name] = [ordered]@{ Exists = $false; Sha256 = $null }
                $certificates.share_error = $_.Exception.Message
            }
        }
        if (-not $certificates.share_error -and -not (Test-Path -LiteralPath $Params.share -PathType Container -ErrorAction SilentlyContinue)) {
            $certificates.share_error = ('{0} is not reachable with the credentials of this task' -f $Params.share)
        }
        $Result.certificates = $certificates
        $public = Join-Path -Path $Params.certificate_dir -ChildPath $Params.public_certificate
        $root = [ordered]@{ InRoot = $false; Thumbprint = $null }
        if (Test-Path -LiteralPath $public -PathType Leaf) {
            $cert = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($public)
            $root.Thumbprint = $cert.Thumbprint
            $root.InRoot = Test-Path -LiteralPath ('Cert:\LocalMachine\Root\{0}' -f $cert.Thumbprint)
        }
        $Result.root = $root
        $Result.setup_exists = Test-Path -LiteralPath $Params.setup_path -PathType Leaf
    }
    $service = Get-Service -Name HpcNodeManager -ErrorAction SilentlyContinue
    $Result.service = if ($service) { [ordered]@{ Name = $service.Name; Status = [string]$service.Status } } else { $null }
    $Result.node = $null
    $Result.running_tasks = 0
    if ($service) {
        Import-HpcPowerShell
        $node = Get-HpcNode -Name $env:COMPUTERNAME -Scheduler $Params.headnode -ErrorAction SilentlyContinue
        if ($node) {
            $Result.node = [ordered]@{
                NetBiosName = $node.NetBiosName
                NodeState = [string]$node.NodeState
                NodeHealth = [string]$node.NodeHealth
                Template = $node.Template
            }
            if ($Params.state -eq 'absent') {
                $Result.running_tasks = @(Get-HpcTask -Scheduler $Params.headnode -State Running -ErrorAction SilentlyContinue |
                        Where-Object { $_.AllocatedNodes -match $env:COMPUTERNAME }).Count
            }
        }
    }
}
