-- hpcops.aws_hpc win_hpc_sqlserver probe: the databases of the instance and their state.
SELECT d.name, d.state_desc
FROM sys.databases AS d
ORDER BY d.name;
