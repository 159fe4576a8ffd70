# The sweeper, on a schedule (every minute by default): it resends the jobs of runs past
# their deadline once, then records what still has no result as lost and ends the run.
# It reports OverdueRuns and LostJobs, which monitoring.tf alarms on.

resource "aws_cloudwatch_event_rule" "sweep" {
  name                = local.names.sweep_rule
  description         = "Invokes ${local.names.sweeper}, which ends runs past their deadline."
  schedule_expression = var.sweep_schedule
  state               = "ENABLED"
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "sweep" {
  rule      = aws_cloudwatch_event_rule.sweep.name
  target_id = "sweeper"
  arn       = aws_lambda_function.core["sweeper"].arn
}

resource "aws_lambda_permission" "sweep" {
  statement_id   = "ScheduleInvokes"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.core["sweeper"].function_name
  principal      = "events.amazonaws.com"
  source_arn     = local.arn.sweep_rule
  source_account = local.account
}
