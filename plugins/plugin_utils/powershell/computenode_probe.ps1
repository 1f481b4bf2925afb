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
    $Result.running_jobs = 0
    if ($service) {
        Import-HpcPowerShell
        $scheduler = $Params.headnode
        $node = Get-HpcNode -Name $env:COMPUTERNAME -Scheduler $scheduler -ErrorAction SilentlyContinue
        if ($node) {
            $name = [string]$node.NetBiosName
            # The node's template and approval are read with Get-HpcNode's documented filters (-TemplateName,
            # -HealthState with the NodeHealthState value Unapproved; MicrosoftDocs/windows-powershell-docs,
            # docset/winserver2012r2-ps/hpc/Get-HpcNode.md), not from properties of the HpcNode object, which
            # the reference does not list: Template is the wanted template when the node has it, else null.
            $inTemplate = Get-HpcNode -Name $name -TemplateName $Params.template -Scheduler $scheduler -ErrorAction SilentlyContinue
            $unapproved = Get-HpcNode -Name $name -HealthState Unapproved -Scheduler $scheduler -ErrorAction SilentlyContinue
            $Result.node = [ordered]@{
                NetBiosName = $name
                NodeState = [string]$node.NodeState
                NodeHealth = [string]$node.NodeHealth
                Unapproved = [bool]$unapproved
                Template = if ($inTemplate) { [string]$Params.template } else { $null }
            }
            if ($Params.state -eq 'absent') {
                # Get-HpcTask needs -Job or -JobId in every parameter set (Get-HpcTask.md: "id" and "job" sets),
                # so the running work on this node is found through its jobs: Get-HpcJob -NodeName gets "the
                # currently running jobs" of a node (Get-HpcJob.md, nodename set), piped ByValue into
                # Get-HpcTask -Job, whose tasks name their nodes in AllocatedNodes ("the names of the nodes that
                # have been allocated to run the task", ISchedulerTask.AllocatedNodes in the HPC Pack SDK).
                $jobs = @(Get-HpcJob -NodeName $name -Scheduler $scheduler -ErrorAction Stop)
                $tasks = @($jobs | Get-HpcTask -State Running -Scheduler $scheduler -ErrorAction Stop)
                $mine = @($tasks | Where-Object {
                        $allocated = @($_.AllocatedNodes | ForEach-Object { [string]$_ -split '[,;\s]+' } | Where-Object { $_ })
                        $allocated -contains $name
                    })
                $Result.running_jobs = $jobs.Count
                $Result.running_tasks = $mine.Count
            }
        }
    }
}
