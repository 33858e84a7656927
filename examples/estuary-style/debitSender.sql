-- Debit the sender if it has the funds (`deposit` always has), credit the recipient when approved,
-- and publish the transfer with its outcome, the sender's balance and the holder joined from accounts.
INSERT INTO balances (account, balance) VALUES ($sender, 0), ($recipient, 0)
  ON CONFLICT DO NOTHING;

UPDATE balances SET balance = balance - $amount
  WHERE account = $sender AND (balance >= $amount OR $sender = 'deposit');

-- changes() is still the debit's row count here: credit only what was debited.
UPDATE balances SET balance = balance + $amount
  WHERE account = $recipient AND changes() > 0;

SELECT
  $id, $sender, $recipient, $amount,
  CASE WHEN changes() THEN 'approve' ELSE 'deny' END AS outcome,
  (SELECT balance FROM balances WHERE account = $sender) AS sender_balance,
  coalesce((SELECT name FROM holders WHERE account = $sender), 'unknown') AS sender_holder;
