-- hpcops.aws_hpc: the instance answers.
SELECT 1 AS ready;
