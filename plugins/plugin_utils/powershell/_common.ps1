# hpcops.aws_hpc: helpers shared by every script (composed after _header.ps1).
$ProgressPreference = 'SilentlyContinue'

$Params = ConvertFrom-Json -InputObject $ParamsJson
$Secrets = @{}
if ($SecretsJson) {
    $decoded = ConvertFrom-Json -InputObject ([System.Net.NetworkCredential]::new('', $SecretsJson).Password)
    foreach ($property in $decoded.PSObject.Properties) {
        $Secrets[$property.Name] = [string]$property.Value
    }
    Remove-Variable -Name decoded
}
$Result = [ordered]@{ changed = $false; done = [System.Collections.Generic.List[string]]::new() }

function Get-HpcSecret {
    param ([Parameter(Mandatory = $true)][string]$Name)
    if (-not $Secrets.ContainsKey($Name)) {
        throw ('secret {0} was not passed to this script' -f $Name)
    }
    $Secrets[$Name]
}

function Get-HpcSecureSecret {
    param ([Parameter(Mandatory = $true)][string]$Name)
    ConvertTo-SecureString -String (Get-HpcSecret -Name $Name) -AsPlainText -Force
}

function Assert-HpcApply {
    # Apply scripts change the host: never under -WhatIf (check mode).
    if ($WhatIfPreference) {
        throw 'an apply script was started in check mode; refusing to change anything'
    }
}

function Stop-HpcStep {
    # Fail with a message that names the step, the object and the cause.
    param ([string]$Step, [string]$Object, [object]$Cause)
    $text = if ($Cause -is [System.Management.Automation.ErrorRecord]) { $Cause.Exception.Message } else { [string]$Cause }
    throw [System.InvalidOperationException]::new(('Failed to {0} {1}: {2}' -f $Step, $Object, $text))
}

function Add-HpcDone {
    param ([string]$Step, [string]$Object)
    $Result.changed = $true
    $Result.done.Add(('{0} {1}' -f $Step, $Object))
}

function ConvertTo-HpcArgument {
    # Quote one command-line value following the CommandLineToArgvW rules setup.exe parses with.
    param ([AllowEmptyString()][string]$Value)
    if ($Value -notmatch '[\s"]' -and $Value.Length -gt 0) {
        return $Value
    }
    $escaped = [regex]::Replace($Value, '(\\*)"', '$1$1\"')
    $escaped = [regex]::Replace($escaped, '(\\+)$', '$1$1')
    '"' + $escaped + '"'
}

function Invoke-HpcSetup {
    # Run HPC Pack setup.exe and report its exit code and the newest setup log it wrote.
    param ([string]$SetupPath, [string[]]$Arguments, [int]$TimeoutSeconds)
    $started = Get-Date
    $info = [System.Diagnostics.ProcessStartInfo]::new($SetupPath, ($Arguments -join ' '))
    $info.UseShellExecute = $false
    $info.CreateNoWindow = $true
    $process = [System.Diagnostics.Process]::Start($info)
    if (-not $process.WaitForExit($TimeoutSeconds * 1000)) {
        throw ('setup.exe did not finish within {0} seconds' -f $TimeoutSeconds)
    }
    $log = Get-ChildItem -LiteralPath (Join-Path -Path $env:windir -ChildPath 'Temp') -Recurse -File -ErrorAction SilentlyContinue |
        Where-Object { $_.LastWriteTime -ge $started -and $_.FullName -match 'hpc' -and $_.Extension -in '.log', '.txt' } |
        Sort-Object -Property LastWriteTime -Descending | Select-Object -First 1
    [ordered]@{
        ExitCode = $process.ExitCode
        LogPath = if ($log) { $log.FullName } else { Join-Path -Path $env:windir -ChildPath 'Temp' }
    }
}

function Import-HpcPowerShell {
    # HPC Pack 2016 ships a snap-in, HPC Pack 2019 a module.
    if (Get-Command -Name Get-HpcNode -ErrorAction SilentlyContinue) {
        return
    }
    if (Get-PSSnapin -Registered -Name Microsoft.HPC -ErrorAction SilentlyContinue) {
        Add-PSSnapin -Name Microsoft.HPC
    }
    else {
        Import-Module -Name Microsoft.Hpc
    }
}

function Get-HpcFileInfo {
    param ([string]$Path)
    $exists = Test-Path -LiteralPath $Path -PathType Leaf
    [ordered]@{
        Exists = $exists
        Sha256 = if ($exists) { (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash } else { $null }
    }
}

function Get-HpcPfxInfo {
    # What a PFX file holds, opened with its password (the password never leaves the host).
    param ([string]$Path, [string]$Password)
    $info = Get-HpcFileInfo -Path $Path
    $info.PasswordValid = $false
    $info.HasPrivateKey = $false
    $info.Subject = $null
    $info.Thumbprint = $null
    $info.DaysLeft = 0
    if ($info.Exists) {
        try {
            $flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::DefaultKeySet
            $cert = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($Path, $Password, $flags)
            $info.PasswordValid = $true
            $info.HasPrivateKey = $cert.HasPrivateKey
            $info.Subject = $cert.Subject
            $info.Thumbprint = $cert.Thumbprint
            $info.DaysLeft = [int][math]::Floor(($cert.NotAfter - (Get-Date)).TotalDays)
            $cert.Reset()
        }
        catch [System.Security.Cryptography.CryptographicException] {
            $info.PasswordValid = $false
        }
    }
    $info
}

function Invoke-HpcSql {
    # Run one T-SQL batch with SqlClient parameters (values are data, never part of the text).
    param (
        [string]$Server,
        [string]$Database = 'master',
        [string]$Sql,
        [hashtable]$Parameters = @{},
        [int]$Timeout = 600
    )
    $builder = [System.Data.SqlClient.SqlConnectionStringBuilder]::new()
    $builder['Data Source'] = $Server
    $builder['Initial Catalog'] = $Database
    $builder['Integrated Security'] = $true
    $builder['Application Name'] = 'hpcops.aws_hpc'
    $connection = [System.Data.SqlClient.SqlConnection]::new($builder.ConnectionString)
    try {
        $connection.Open()
        $command = $connection.CreateCommand()
        $command.CommandText = $Sql
        $command.CommandTimeout = $Timeout
        foreach ($key in $Parameters.Keys) {
            $value = $Parameters[$key]
            if ($null -eq $value) {
                $value = [System.DBNull]::Value
            }
            [void]$command.Parameters.AddWithValue('@' + $key, $value)
        }
        $table = [System.Data.DataTable]::new()
        $reader = $command.ExecuteReader()
        $table.Load($reader)
        $rows = [System.Collections.Generic.List[object]]::new()
        foreach ($row in $table.Rows) {
            $record = [ordered]@{}
            foreach ($column in $table.Columns) {
                $value = $row[$column]
                if ($value -is [System.DBNull]) {
                    $value = $null
                }
                $record[$column.ColumnName] = $value
            }
            $rows.Add([pscustomobject]$record)
        }
        Write-Output -InputObject $rows.ToArray() -NoEnumerate
    }
    finally {
        $connection.Dispose()
    }
}
