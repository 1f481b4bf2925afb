# win_hpc_cluster probe (read-only): network topology and interfaces, the install credential, the
# user name last set as job credential (the credential cache cannot be read back, so the module keeps
# the name under HKLM:\SOFTWARE\hpcops\aws_hpc), cluster members and this head node's role and state.
function Invoke-HpcScript {
    $Result.computer_name = $env:COMPUTERNAME
    $service = Get-Service -Name HpcScheduler -ErrorAction SilentlyContinue
    $Result.installed = [bool]$service
    if (-not $service) {
        return
    }
    Import-HpcPowerShell
    if ($Params.network) {
        $Result.interfaces = @(foreach ($interface in @(Get-HpcNetworkInterface)) {
                [ordered]@{ Name = $interface.Name; IpAddress = [string]$interface.IpAddress; SubnetMask = [string]$interface.SubnetMask }
            })
        $enterprise = @(Get-HpcNetworkInterface -Type Enterprise -ErrorAction SilentlyContinue)
        $Result.network = [ordered]@{
            Topology = [string](Get-HpcNetworkTopology -ErrorAction SilentlyContinue)
            EnterpriseAdapter = if ($enterprise.Count -gt 0) { $enterprise[0].Name } else { $null }
        }
    }
    if ($Params.install_credential) {
        $property = Get-HpcClusterProperty -InstallCredential -ErrorAction SilentlyContinue | Select-Object -First 1
        $Result.install_credential = [ordered]@{ UserName = if ($property) { [string]$property.Value } else { $null } }
    }
    if ($Params.job_credential) {
        $marker = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\hpcops\aws_hpc' -Name JobCredentialUserName -ErrorAction SilentlyContinue
        $Result.job_credential = [ordered]@{ UserName = if ($marker) { $marker.JobCredentialUserName } else { $null } }
    }
    if ($Params.members) {
        $Result.members = @(foreach ($member in @(Get-HpcMember)) {
                [ordered]@{ Name = $member.Name; Role = [string]$member.Role }
            })
    }
    if ($Params.node) {
        $node = Get-HpcNode -Name $env:COMPUTERNAME -ErrorAction SilentlyContinue
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
