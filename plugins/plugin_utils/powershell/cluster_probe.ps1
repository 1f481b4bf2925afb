# win_hpc_cluster probe (read-only): network topology and interfaces, the install credential, the
# user name last set as job credential and the account that set it (the credential cache cannot be read
# back, so the module keeps both under HKLM:\SOFTWARE\hpcops\aws_hpc), cluster members, this head node's
# role and state, and the account this script runs as.
# Every HPC cmdlet gets -Scheduler (Get-HpcSchedulerName); the first cluster read waits until the cluster
# answers, the way Microsoft's MSFT_xHpcWaitForCluster does after setup (Invoke-HpcRetry, _common.ps1).
function Invoke-HpcScript {
    $Result.computer_name = $env:COMPUTERNAME
    # Who runs this script: see Get-HpcIdentity in _common.ps1.
    $Result.identity = Get-HpcIdentity
    $service = Get-Service -Name HpcScheduler -ErrorAction SilentlyContinue
    $Result.installed = [bool]$service
    if (-not $service) {
        return
    }
    Import-HpcPowerShell
    $scheduler = Get-HpcSchedulerName
    $Result.scheduler = $scheduler
    # The cluster-wide property read is the readiness gate: it fails until the management service answers
    # (Get-HpcClusterProperty, default parameter set: Get-HpcClusterProperty [-Scheduler <String[]>]).
    Invoke-HpcRetry -What ('reading the cluster properties of {0}' -f $scheduler) -Retry $Params.retry.cluster_ready -Action {
        Get-HpcClusterProperty -Scheduler $scheduler -ErrorAction Stop | Out-Null
    }
    if ($Params.network) {
        $Result.interfaces = @(foreach ($interface in @(Get-HpcNetworkInterface -Scheduler $scheduler)) {
                [ordered]@{ Name = $interface.Name; IpAddress = [string]$interface.IpAddress; SubnetMask = [string]$interface.SubnetMask }
            })
        $enterprise = @(Get-HpcNetworkInterface -Type Enterprise -Scheduler $scheduler -ErrorAction SilentlyContinue)
        # Microsoft's MSFT_xHpcClusterInit reads the topology inside the same retry loop.
        $topology = Invoke-HpcRetry -What ('reading the network topology of {0}' -f $scheduler) -Retry $Params.retry.cluster_ready -Action {
            Get-HpcNetworkTopology -Scheduler $scheduler -ErrorAction SilentlyContinue
        }
        $Result.network = [ordered]@{
            Topology = [string]$topology
            EnterpriseAdapter = if ($enterprise.Count -gt 0) { $enterprise[0].Name } else { $null }
        }
    }
    if ($Params.install_credential) {
        $property = Get-HpcClusterProperty -InstallCredential -Scheduler $scheduler -ErrorAction SilentlyContinue | Select-Object -First 1
        $Result.install_credential = [ordered]@{ UserName = if ($property) { [string]$property.Value } else { $null } }
    }
    if ($Params.job_credential) {
        # The marker keeps the user name set and the account whose credential cache holds it (CachedBy).
        $marker = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\hpcops\aws_hpc' -ErrorAction SilentlyContinue
        $Result.job_credential = [ordered]@{
            UserName = if ($marker -and $marker.PSObject.Properties['JobCredentialUserName']) { $marker.JobCredentialUserName } else { $null }
            CachedBy = if ($marker -and $marker.PSObject.Properties['JobCredentialCachedBy']) { $marker.JobCredentialCachedBy } else { $null }
        }
    }
    if ($Params.members) {
        $Result.members = @(foreach ($member in @(Get-HpcMember -Scheduler $scheduler)) {
                [ordered]@{ Name = $member.Name; Role = [string]$member.Role }
            })
    }
    if ($Params.node) {
        $node = Get-HpcNode -Name $env:COMPUTERNAME -Scheduler $scheduler -ErrorAction SilentlyContinue
        $Result.node = if ($node) {
            [ordered]@{
                NetBiosName = $node.NetBiosName
                NodeRole = @($node.NodeRole | ForEach-Object { [string]$_ })
                NodeState = [string]$node.NodeState
                NodeHealth = [string]$node.NodeHealth
            }
        }
        else { $null }
    }
}
