"""The sandbox's Daraja answers and calls back with every field Safaricom documents, in the
documented formats (developer.safaricom.co.ke: Business To Customer, Transaction Status,
Reversal, M-Pesa Express, Customer To Business)."""

import hashlib
import re

from tests.sandbox.conftest import B2C, OUR, REVERSAL, STATUS, STK, sent_to

B2C_PARAMETERS = {
    "TransactionAmount",
    "TransactionReceipt",
    "ReceiverPartyPublicName",
    "TransactionCompletedDateTime",
    "B2CUtilityAccountAvailableFunds",
    "B2CWorkingAccountAvailableFunds",
    "B2CRecipientIsRegisteredCustomer",
    "B2CChargesPaidAccountAvailableFunds",
}
STATUS_PARAMETERS = [
    "DebitPartyName",
    "CreditPartyName",
    "OriginatorConversationID",
    "InitiatedTime",
    "DebitAccountType",
    "DebitPartyCharges",
    "TransactionReason",
    "ReasonType",
    "TransactionStatus",
    "FinalisedTime",
    "Amount",
    "ConversationID",
    "ReceiptNo",
]
REVERSAL_PARAMETERS = [
    "DebitAccountBalance",
    "Amount",
    "TransCompletedTime",
    "OriginalTransactionID",
    "Charge",
    "CreditPartyPublicName",
    "DebitPartyPublicName",
]
RECEIPT = re.compile(r"[A-Z][A-L][1-9A-V][A-Z0-9]{7}")


def pairs(result: dict) -> dict:
    return {p["Key"]: p.get("Value") for p in result["ResultParameters"]["ResultParameter"]}


def test_a_b2c_result_carries_every_documented_parameter(caller, sandbox):
    accepted = caller.post(B2C, caller.b2c()).json()
    (body,) = sent_to(sandbox, f"{OUR}/b2c/result/")
    result = body["Result"]
    assert (result["ResultType"], result["ResultCode"]) == (0, 0)
    assert result["ResultDesc"] == "The service request is processed successfully."
    assert result["OriginatorConversationID"] == "PAYOUT_7KQ2M9XD"
    assert result["ConversationID"] == accepted["ConversationID"]
    assert RECEIPT.fullmatch(result["TransactionID"])
    values = pairs(result)
    assert set(values) == B2C_PARAMETERS
    assert values["TransactionAmount"] == 1500
    assert values["TransactionReceipt"] == result["TransactionID"]
    assert values["ReceiverPartyPublicName"].startswith("254712345678 - ")
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d", values["TransactionCompletedDateTime"])
    assert values["B2CRecipientIsRegisteredCustomer"] == "Y"
    assert values["B2CChargesPaidAccountAvailableFunds"] < 0  # the fee, as Safaricom shows it
    assert all(
        isinstance(values[k], float)
        for k in ("B2CUtilityAccountAvailableFunds", "B2CWorkingAccountAvailableFunds")
    )
    assert result["ReferenceData"]["ReferenceItem"]["Key"] == "QueueTimeoutURL"
    assert result["ReferenceData"]["ReferenceItem"]["Value"].startswith("https://")


def test_transaction_status_of_a_payout_as_safaricoms_sample(caller, sandbox):
    paid = caller.post(B2C, caller.b2c()).json()
    asked = caller.post(STATUS, caller.status(Occasion="PAYOUT_7KQ2M9XD")).json()
    (body,) = sent_to(sandbox, f"{OUR}/b2c/status/")
    result = body["Result"]
    # Its own ids are the query's; the payment's are in its parameters.
    assert (result["ConversationID"], result["OriginatorConversationID"]) == (
        asked["ConversationID"],
        asked["OriginatorConversationID"],
    )
    assert result["ReferenceData"] == {"ReferenceItem": {"Key": "Occasion"}}  # no Value
    parameters = result["ResultParameters"]["ResultParameter"]
    assert [p["Key"] for p in parameters] == STATUS_PARAMETERS
    assert {"Key": "TransactionReason"} in parameters
    values = pairs(result)
    assert values["OriginatorConversationID"] == "PAYOUT_7KQ2M9XD"  # the original request's
    assert values["ConversationID"] == paid["ConversationID"]
    assert (values["TransactionStatus"], values["Amount"]) == ("Completed", "1500")
    assert values["ReasonType"] == "Business Payment to Customer via API"
    assert values["DebitAccountType"] == "Utility Account"
    assert values["DebitPartyCharges"].startswith("Fee For B2C Payment|KES|")
    assert values["CreditPartyName"].startswith("254712345678 - ")
    assert re.fullmatch(r"\d{14}", values["InitiatedTime"])
    receipt = sent_to(sandbox, f"{OUR}/b2c/result/")[0]["Result"]["TransactionID"]
    assert values["ReceiptNo"] == receipt


def test_transaction_status_of_a_pay_bill_payment_by_its_receipt(caller, daraja, sandbox):
    daraja.pay_bill("ESCROW_7KQ2M9XD", 1500, phone="254712345678", trans_id="RKTQDM7W6S")
    status = caller.status(
        TransactionID="RKTQDM7W6S",
        OriginalConversationID="",
        PartyA=caller.settings.MPESA_SHORTCODE,
        ResultURL=f"{OUR}/transaction-status/result/",
    )
    caller.post(STATUS, status)
    (body,) = sent_to(sandbox, f"{OUR}/transaction-status/result/")
    values = pairs(body["Result"])
    assert values["DebitPartyName"].startswith("254712345678 - ")  # the payer, in full
    assert values["CreditPartyName"] == f"{caller.settings.MPESA_SHORTCODE} - Kazi Trust"
    assert (values["ReceiptNo"], values["TransactionStatus"]) == ("RKTQDM7W6S", "Completed")
    assert values["DebitAccountType"] == "MMF Account For Customer"


def test_a_reversal_result_carries_its_parameters_and_reference_item(caller, daraja, sandbox):
    daraja.pay_bill("rent", 300, phone="254712345678", trans_id="RKTQDM7W6S")
    accepted = caller.post(REVERSAL, caller.reversal("RKTQDM7W6S")).json()
    (body,) = sent_to(sandbox, f"{OUR}/reversal/result/")
    result = body["Result"]
    assert (result["ResultCode"], result["ConversationID"]) == (0, accepted["ConversationID"])
    assert [p["Key"] for p in result["ResultParameters"]["ResultParameter"]] == REVERSAL_PARAMETERS
    values = pairs(result)
    assert (values["OriginalTransactionID"], values["Amount"], values["Charge"]) == (
        "RKTQDM7W6S",
        300.0,
        0.0,
    )
    assert re.fullmatch(
        r"Utility Account\|KES\|[\d.]+\|[\d.]+\|0\.00\|0\.00", values["DebitAccountBalance"]
    )
    assert values["CreditPartyPublicName"].startswith("254712345678 - ")
    assert re.fullmatch(r"\d{14}", str(values["TransCompletedTime"]))
    item = result["ReferenceData"]["ReferenceItem"]
    assert item["Key"] == "QueueTimeoutURL"
    assert item["Value"]


def test_a_paid_prompt_calls_back_and_is_confirmed_by_c2b_too(caller, daraja, sandbox):
    """Safaricom confirms a Pay Bill STK payment to the registered confirmation URL too: the
    STK receipt as TransID, the AccountReference as BillRefNumber, the payer masked."""
    answer = caller.post(STK, caller.stk()).json()
    callback = daraja.stk_callback(answer["CheckoutRequestID"])["Body"]["stkCallback"]
    assert callback["MerchantRequestID"] == answer["MerchantRequestID"]
    items = {item["Name"]: item.get("Value") for item in callback["CallbackMetadata"]["Item"]}
    assert items["Amount"] == 1500.0
    assert items["PhoneNumber"] == 254712345678
    assert "Balance" in items
    assert re.fullmatch(r"\d{14}", str(items["TransactionDate"]))
    confirmation_url = daraja.registration()["confirmation_url"]
    (confirmation,) = sent_to(sandbox, confirmation_url)
    assert confirmation["TransID"] == items["MpesaReceiptNumber"]
    assert confirmation["BillRefNumber"] == "7KQ2M9XD"
    assert (confirmation["TransAmount"], confirmation["MSISDN"]) == ("1500.00", "2547 ***** 678")
    assert sent_to(sandbox, f"{OUR}/stk/") == [daraja.stk_callback(answer["CheckoutRequestID"])]


def test_a_failed_prompt_has_no_metadata_and_no_confirmation(caller, daraja, sandbox):
    daraja.faults.stk_result_code = 1032
    answer = caller.post(STK, caller.stk()).json()
    assert daraja.stk_callback(answer["CheckoutRequestID"]) == {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": answer["MerchantRequestID"],
                "CheckoutRequestID": answer["CheckoutRequestID"],
                "ResultCode": 1032,
                "ResultDesc": "Request cancelled by user.",
            }
        }
    }
    assert sent_to(sandbox, daraja.registration()["confirmation_url"]) == []


def test_c2b_v1_registrations_get_the_payers_number_hashed(daraja, sandbox):
    daraja.register(
        confirmation_url=f"{OUR}/c2b/confirmation/",
        validation_url=f"{OUR}/c2b/validation/",
        version=1,
    )
    daraja.faults.external_validation = False
    daraja.pay_bill("rent", 100, phone="254712345678")
    (confirmation,) = sent_to(sandbox, f"{OUR}/c2b/confirmation/")
    assert confirmation["MSISDN"] == hashlib.sha256(b"254712345678").hexdigest()
