# SQL Server settings the HPC Pack databases need, baked into the image: the TCP listener on the
# static port 1433 (the head node connects to mssql.<zone>:1433) and its firewall rule. Accounts,
# logins and the databases are created at deployment (role sqlserver), never in the image.
$ErrorActionPreference = 'Stop'

Import-Module SQLPS -DisableNameChecking -ErrorAction SilentlyContinue | Out-Null
$wmi = New-Object Microsoft.SqlServer.Management.Smo.Wmi.ManagedComputer
$tcp = $wmi.ServerInstances['MSSQLSERVER'].ServerProtocols['Tcp']
$tcp.IsEnabled = $true
foreach ($address in $tcp.IPAddresses) {
    if ($address.Name -eq 'IPAll') {
        $address.IPAddressProperties['TcpDynamicPorts'].Value = ''
        $address.IPAddressProperties['TcpPort'].Value = '1433'
    }
}
$tcp.Alter()

New-NetFirewallRule -DisplayName 'SQL Server 1433' -Direction Inbound -Protocol TCP -LocalPort 1433 -Action Allow | Out-Null
Restart-Service -Name MSSQLSERVER -Force
Write-Output 'SQL Server listens on TCP 1433.'
