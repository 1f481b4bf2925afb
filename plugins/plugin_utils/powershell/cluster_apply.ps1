# win_hpc_cluster apply: network topology, job and install credentials, members, node role and
# state, as planned on the controller (seed 000's "Configure the HeadNode").
function New-HpcCredential {
    param ([string]$UserName, [string]$SecretName)
    [System.Management.Automation.PSCredential]::new($UserName, (Get-HpcSecureSecret -Name $SecretName))
}

function Invoke-HpcScript {
    Assert-HpcApply
    Import-HpcPowerShell
    foreach ($change in @($Params.changes)) {
        $object = $change.object
        try {
            switch ($change.step) {
                'network' {
                    $settings = @{ Topology = $object; Enterprise = $change.enterprise_interface }
                    if ($null -ne $change.enterprise_firewall) {
                        $settings.EnterpriseFirewall = [bool]$change.enterprise_firewall
                    }
                    Set-HpcNetwork @settings
                }
                'job_credential' {
                    Set-HpcJobCredential -Credential (New-HpcCredential -UserName $object -SecretName 'job_password')
                    New-Item -Path 'HKLM:\SOFTWARE\hpcops\aws_hpc' -Force | Out-Null
                    Set-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\hpcops\aws_hpc' -Name JobCredentialUserName -Value $object
                }
                'install_credential' {
                    Set-HpcClusterProperty -InstallCredential (New-HpcCredential -UserName $object -SecretName 'install_password')
                }
                'member' {
                    Add-HpcMember -Name $object -Role $change.role -WarningAction Stop | Out-Null
                }
                'node_role' {
                    Set-HpcNode -Name $object -Role $change.roles | Out-Null
                }
                'node_state' {
                    Set-HpcNodeState -Name $object -State $change.action | Out-Null
                }
            }
        }
        catch {
            Stop-HpcStep -Step ('set {0} of' -f $change.step.Replace('_', ' ')) -Object $object -Cause $_
        }
        Add-HpcDone -Step $change.step -Object $object
    }
}
