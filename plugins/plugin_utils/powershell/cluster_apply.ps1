# win_hpc_cluster apply: network topology, job and install credentials, members, node role and
# state, as planned on the controller (seed 000's "Configure the HeadNode"). Every HPC cmdlet gets
# -Scheduler (Get-HpcSchedulerName, _common.ps1); Set-HpcNetwork and Set-HpcClusterProperty are retried
# while the cluster is not ready yet, as Microsoft's MSFT_xHpcClusterInit does (Invoke-HpcRetry).
function New-HpcCredential {
    param ([string]$UserName, [string]$SecretName)
    [System.Management.Automation.PSCredential]::new($UserName, (Get-HpcSecureSecret -Name $SecretName))
}

function Invoke-HpcScript {
    Assert-HpcApply
    Import-HpcPowerShell
    $scheduler = Get-HpcSchedulerName
    foreach ($change in @($Params.changes)) {
        $object = $change.object
        try {
            switch ($change.step) {
                'network' {
                    $settings = @{ Topology = $object; Enterprise = $change.enterprise_interface; Scheduler = $scheduler }
                    if ($null -ne $change.enterprise_firewall) {
                        $settings.EnterpriseFirewall = [bool]$change.enterprise_firewall
                    }
                    Invoke-HpcRetry -What ('Set-HpcNetwork -Topology {0}' -f $object) -Retry $Params.retry.network -Action {
                        Set-HpcNetwork @settings -ErrorAction Stop
                    } | Out-Null
                }
                'job_credential' {
                    # "stores these credentials in the credential cache of the user who ran the cmdlet"
                    # (Set-HpcJobCredential.md): the task runs as that user (become runas, checked by the planner).
                    Set-HpcJobCredential -Credential (New-HpcCredential -UserName $object -SecretName 'job_password') -Scheduler $scheduler
                    New-Item -Path 'HKLM:\SOFTWARE\hpcops\aws_hpc' -Force | Out-Null
                    Set-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\hpcops\aws_hpc' -Name JobCredentialUserName -Value $object
                    Set-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\hpcops\aws_hpc' -Name JobCredentialCachedBy -Value ([System.Security.Principal.WindowsIdentity]::GetCurrent().Name)
                }
                'install_credential' {
                    $credential = New-HpcCredential -UserName $object -SecretName 'install_password'
                    Invoke-HpcRetry -What 'Set-HpcClusterProperty -InstallCredential' -Retry $Params.retry.cluster_property -Action {
                        Set-HpcClusterProperty -InstallCredential $credential -Scheduler $scheduler -ErrorAction Stop
                    } | Out-Null
                }
                'member' {
                    Add-HpcMember -Name $object -Role $change.role -Scheduler $scheduler -WarningAction Stop | Out-Null
                }
                'node_role' {
                    # Set-HpcNode -Role takes only None, ComputeNode, BrokerNode and WorkstationNode, and
                    # "You must take a node offline before you can change the role of the node"
                    # (MicrosoftDocs/windows-powershell-docs, docset/winserver2012r2-ps/hpc/Set-HpcNode.md).
                    # The plan sends the documented roles only and takes the node offline first.
                    Set-HpcNode -Name $object -Role @($change.roles) -Scheduler $scheduler | Out-Null
                }
                'node_state' {
                    # Set-HpcNodeState -State Online|Offline|Rejected; without -Async it waits for the state,
                    # and Offline drains running jobs first (Set-HpcNodeState.md).
                    $state = if ($change.action -eq 'offline') { 'Offline' } else { 'Online' }
                    Set-HpcNodeState -Name $object -State $state -Scheduler $scheduler -Confirm:$false | Out-Null
                }
            }
        }
        catch {
            Stop-HpcStep -Step ('set {0} of' -f $change.step.Replace('_', ' ')) -Object $object -Cause $_
        }
        Add-HpcDone -Step $change.step -Object $object
    }
}
