"""Svenska: the portal's Swedish text, keyed by its English original (api/portal/i18n.py).
tests/test_portal_i18n.py checks that every text the templates use is here."""

from __future__ import annotations

SWEDISH: dict[str, str] = {
    # Layout and navigation
    "Skip to content": "Hoppa till innehållet",
    "Main": "Huvudmeny",
    "Language": "Språk",
    "Console": "Konsol",
    "Recordings": "Inspelningar",
    "Staff access": "Supportåtkomst",
    "Access log": "Åtkomstlogg",
    "Export": "Export",
    "Settings": "Inställningar",
    "Users": "Användare",
    "Password": "Lösenord",
    "Log in": "Logga in",
    "Log out": "Logga ut",
    "Pages": "Sidor",
    "Newest": "Nyaste",
    "Older": "Äldre",
    "Actions": "Åtgärder",
    "Recordings are encrypted for your company alone and deleted at the latest 90 days after"
    " the call.": "Inspelningarna är krypterade enbart för ert företag och raderas senast 90"
    " dagar efter samtalet.",
    "Back to the start page": "Tillbaka till startsidan",
    # Sign-in
    "Your voicemail and call recordings, encrypted for your company alone.":
        "Era röstmeddelanden och samtalsinspelningar, krypterade enbart för ert företag.",
    "Email address": "E-postadress",
    "Wrong email address or password.": "Fel e-postadress eller lösenord.",
    "Too many attempts. Please wait and try again.":
        "För många försök. Vänta en stund och försök igen.",
    "This account cannot use the portal.": "Det här kontot kan inte använda portalen.",
    # Recordings
    "{n} unread": "{n} olästa",
    "All caught up": "Inget oläst",
    "Filter recordings": "Filtrera inspelningar",
    "Caller number": "Uppringarens nummer",
    "From date": "Från datum",
    "To date": "Till datum",
    "Filter": "Filtrera",
    "Clear": "Rensa",
    "Recordings, newest first": "Inspelningar, nyaste först",
    "Received": "Mottagen",
    "Caller": "Uppringare",
    "Length": "Längd",
    "Kind": "Typ",
    "Deleted in": "Raderas om",
    "Unread": "Oläst",
    "Unknown number": "Okänt nummer",
    "deleted in": "raderas om",
    "Listen": "Lyssna",
    "Play the recording from {number}": "Spela upp inspelningen från {number}",
    "Voicemail": "Röstmeddelande",
    "Call": "Samtal",
    "{n} days": "{n} dagar",
    "1 day": "1 dag",
    "voicemail": "röstmeddelande",
    "call": "samtal",
    "No recordings here": "Inga inspelningar här",
    "Nothing matches the filter.": "Inget matchar filtret.",
    "New voicemail and call recordings appear here as soon as they arrive.":
        "Nya röstmeddelanden och samtalsinspelningar visas här så snart de kommer in.",
    "All recordings": "Alla inspelningar",
    "Play the recording": "Spela upp inspelningen",
    "Download": "Ladda ner",
    "Called number": "Uppringt nummer",
    "Size": "Storlek",
    "Delete…": "Radera…",
    "The recording is deleted for good, also from backups. This cannot be undone.":
        "Inspelningen raderas för gott, även ur säkerhetskopior. Det går inte att ångra.",
    "Delete permanently": "Radera permanent",
    "Recording": "Inspelning",
    "the caller is not a phone number (for example +46701234567)":
        "uppringaren är inte ett telefonnummer (till exempel +46701234567)",
    "from is not a date (YYYY-MM-DD)": "från-datumet är inte ett datum (ÅÅÅÅ-MM-DD)",
    "to is not a date (YYYY-MM-DD)": "till-datumet är inte ett datum (ÅÅÅÅ-MM-DD)",
    # Staff access
    "Support staff can listen only to what you allow, for at most 7 days. Every listen appears"
    " in the access log.": "Supportpersonal kan bara lyssna på det ni tillåter, i högst 7 dagar."
    " Varje lyssning syns i åtkomstloggen.",
    "Waiting for your answer": "Väntar på ert svar",
    "asks to listen to": "ber att få lyssna på",
    "all your recordings": "alla era inspelningar",
    "{n} recordings": "{n} inspelningar",
    "Reason": "Anledning",
    "Ticket": "Ärende",
    "Asked": "Frågade",
    "Expires unanswered": "Förfaller obesvarad",
    "Allow for": "Tillåt i",
    "Approve": "Godkänn",
    "Deny": "Neka",
    "An administrator of your company can answer this request.":
        "En administratör på ert företag kan svara på förfrågan.",
    "No requests are waiting.": "Inga förfrågningar väntar.",
    "Grants": "Behörigheter",
    "Who": "Vem",
    "Covers": "Omfattar",
    "Purpose": "Syfte",
    "Until": "Till",
    "Status": "Status",
    "all recordings": "alla inspelningar",
    "Revoke now": "Återkalla nu",
    "You have not given anyone access.": "Ni har inte gett någon åtkomst.",
    "Earlier requests": "Tidigare förfrågningar",
    "any support engineer": "vilken supporttekniker som helst",
    "a removed user": "en borttagen användare",
    "active": "aktiv",
    "expired": "utgången",
    "revoked": "återkallad",
    "pending": "väntar",
    "approved": "godkänd",
    "denied": "nekad",
    "access can last from 1 to 7 days": "åtkomst kan gälla från 1 till 7 dagar",
    "Approved: the support engineer can listen until the grant ends.":
        "Godkänt: supportteknikern kan lyssna tills behörigheten upphör.",
    "Denied: nothing was shared.": "Nekat: inget delades.",
    "Revoked: access ended now.": "Återkallat: åtkomsten upphörde nu.",
    "The recording was deleted for good.": "Inspelningen är raderad för gott.",
    # Access log
    "Everything anyone did with your recordings, newest first. The log is hash-chained:"
    " entries cannot be changed or removed unnoticed.": "Allt som någon har gjort med era"
    " inspelningar, nyaste först. Loggen är hashkedjad: poster kan inte ändras eller tas bort"
    " obemärkt.",
    "Your telephony provider": "Er teleoperatör",
    "recstore": "recstore",
    "recording": "inspelning",
    "under grant": "med behörighet",
    "staff": "support",
    "Nothing yet.": "Inget ännu.",
    "Signed checkpoint": "Signerad kontrollpunkt",
    "Keep this file: with it you can later prove that no entry up to here was changed or"
    " removed (recstore audit verify --checkpoint).": "Spara filen: med den kan ni senare"
    " bevisa att ingen post fram till hit har ändrats eller tagits bort (recstore audit verify"
    " --checkpoint).",
    "Entries": "Poster",
    "Signed": "Signerad",
    "Chain hash": "Kedjans hash",
    "Download the checkpoint": "Ladda ner kontrollpunkten",
    "delivered a new recording": "levererade en ny inspelning",
    "opened": "öppnade",
    "listened to": "lyssnade på",
    "deleted": "raderade",
    "deleted at the end of its retention period:": "raderade när lagringstiden löpte ut:",
    "found the audio missing for": "hittade inte ljudet till",
    "looked at the details of": "tittade på uppgifterna om",
    "listed your recordings (details only, no audio)":
        "listade era inspelningar (bara uppgifter, inget ljud)",
    "was refused the audio of": "nekades ljudet till",
    "was cut off while listening to": "avbröts medan hen lyssnade på",
    "gave access": "gav åtkomst",
    "revoked access": "återkallade åtkomst",
    "asked for access": "bad om åtkomst",
    "approved an access request": "godkände en åtkomstförfrågan",
    "denied an access request": "nekade en åtkomstförfrågan",
    "closed an access request left unanswered": "stängde en obesvarad åtkomstförfrågan",
    "failed to sign in": "misslyckades att logga in",
    "was refused something their role may not do": "nekades något som rollen inte får göra",
    "tried a withdrawn sign-in": "försökte med en återkallad inloggning",
    "tried an ended session": "försökte med en avslutad session",
    "changed the retention period": "ändrade lagringstiden",
    "changed the provider-copy setting": "ändrade inställningen för operatörens kopia",
    "changed the notification settings": "ändrade aviseringarna",
    "invited a colleague": "bjöd in en kollega",
    "removed a user": "tog bort en användare",
    "changed their password": "bytte lösenord",
    "exported all data": "exporterade all data",
    "asked for the whole account to be erased": "bad om att hela kontot raderas",
    "erased the account": "raderade kontot",
    "destroyed the keys of an expired period": "förstörde nycklarna för en utgången period",
    # Export
    "Export everything": "Exportera allt",
    "One ZIP file with all data recstore holds about your company: every recording with its"
    " original audio, your account, grants and the access log, in machine-readable JSON.":
        "En ZIP-fil med all data recstore har om ert företag: varje inspelning med originalljud,"
        " ert konto, behörigheter och åtkomstloggen, i maskinläsbar JSON.",
    "about": "cirka",
    "Download the export": "Ladda ner exporten",
    "Preparing the export": "Exporten förbereds",
    "Done: the file is in your downloads.": "Klart: filen finns bland dina hämtade filer.",
    "The export was interrupted. Please try again.": "Exporten avbröts. Försök igen.",
    # Settings
    "Saved.": "Sparat.",
    "Retention": "Lagringstid",
    "Keep recordings for (days)": "Spara inspelningar i (dagar)",
    "From 1 to 90 days after the call. A shorter period also deletes older recordings now.":
        "Från 1 till 90 dagar efter samtalet. En kortare tid raderar också äldre inspelningar"
        " direkt.",
    "Delete the telephony provider's copy once recstore has stored the recording":
        "Radera teleoperatörens kopia när recstore har sparat inspelningen",
    "Notifications": "Aviseringar",
    "Tell us when a new recording arrives": "Meddela oss när en ny inspelning kommer in",
    "Include the caller's number in the notification":
        "Ta med uppringarens nummer i aviseringen",
    "Off by default: e-mail is not end-to-end encrypted. Notifications never contain the"
    " caller's name or the audio.": "Av som standard: e-post är inte end-to-end-krypterad."
    " Aviseringar innehåller aldrig uppringarens namn eller ljudet.",
    "Save settings": "Spara inställningar",
    "Only an administrator of your company can change these settings.":
        "Bara en administratör på ert företag kan ändra inställningarna.",
    "Retention must be from 1 to 90 days.": "Lagringstiden måste vara från 1 till 90 dagar.",
    "Erase the whole account": "Radera hela kontot",
    "Every recording, every key, your users' personal data and all grants are deleted for good,"
    " also from backups. Export first if you want to keep anything.": "Varje inspelning, varje"
    " nyckel, era användares personuppgifter och alla behörigheter raderas för gott, även ur"
    " säkerhetskopior. Exportera först om ni vill spara något.",
    "Erase the account…": "Radera kontot…",
    "I understand that this cannot be undone": "Jag förstår att det inte går att ångra",
    "Your password": "Ditt lösenord",
    "Erase everything now": "Radera allt nu",
    "Tick the box to confirm the erasure.": "Kryssa i rutan för att bekräfta raderingen.",
    "The account was erased.": "Kontot är raderat.",
    # Users and password
    "The user was removed and signed out everywhere.":
        "Användaren togs bort och loggades ut överallt.",
    "{email} can now sign in with this one-time password, and must choose a new one at once:":
        "{email} kan nu logga in med detta engångslösenord och måste genast välja ett nytt:",
    "It is shown only now. Give it to your colleague in person or by phone, not by e-mail.":
        "Det visas bara nu. Ge det till din kollega personligen eller per telefon, inte via"
        " e-post.",
    "Role": "Roll",
    "Since": "Sedan",
    "you": "du",
    "Remove…": "Ta bort…",
    "Remove {email}": "Ta bort {email}",
    "Invite a colleague": "Bjud in en kollega",
    "Invite": "Bjud in",
    "customer_admin": "administratör",
    "customer_user": "användare",
    "Change your password": "Byt lösenord",
    "Your password was changed. You were signed out everywhere else.":
        "Lösenordet är bytt. Du loggades ut överallt annars.",
    "Current password": "Nuvarande lösenord",
    "New password": "Nytt lösenord",
    "At least 12 characters.": "Minst 12 tecken.",
    "New password again": "Nytt lösenord igen",
    "Change password": "Byt lösenord",
    "The two new passwords differ.": "De två nya lösenorden är olika.",
    "the current password is not right": "det nuvarande lösenordet stämmer inte",
    "the new password must have at least 12 characters":
        "det nya lösenordet måste ha minst 12 tecken",
    "you cannot remove yourself": "du kan inte ta bort dig själv",
    "a user with that email exists": "det finns redan en användare med den e-postadressen",
    "that is not an e-mail address": "det är inte en e-postadress",
    # Staff console
    "Support console": "Supportkonsol",
    "Operational details only. You can listen to a recording only while the customer's grant"
    " covers it; every look is in the customer's access log.": "Bara driftuppgifter. Du kan"
    " lyssna på en inspelning bara medan kundens behörighet omfattar den; allt du tittar på"
    " syns i kundens åtkomstlogg.",
    "Your request was sent to the customer.": "Din förfrågan har skickats till kunden.",
    "Find a customer": "Hitta en kund",
    "Customer id": "Kund-id",
    "Show recordings": "Visa inspelningar",
    "Provider": "Operatör",
    "Ingest": "Mottagning",
    "This customer has no recordings.": "Kunden har inga inspelningar.",
    "Ask for access to all recordings": "Be om åtkomst till alla inspelningar",
    "Send request": "Skicka förfrågan",
    "Your access requests": "Dina åtkomstförfrågningar",
    "None yet.": "Inga ännu.",
    "The customer's recordings": "Kundens inspelningar",
    "Recording id": "Inspelnings-id",
    "The customer's grant allows you to listen. Your listening is shown in their access log.":
        "Kundens behörighet tillåter att du lyssnar. Din lyssning syns i kundens åtkomstlogg.",
    "You cannot listen yet: your access request is waiting for the customer's answer.":
        "Du kan inte lyssna än: din åtkomstförfrågan väntar på kundens svar.",
    "You cannot listen: no live grant of the customer covers this recording for you. Ask the"
    " customer for access below.": "Du kan inte lyssna: ingen giltig behörighet från kunden"
    " omfattar den här inspelningen för dig. Be kunden om åtkomst nedan.",
    "Ask for access to this recording": "Be om åtkomst till den här inspelningen",
    "That is not a customer id.": "Det är inte ett kund-id.",
    # Errors
    "Bad request": "Felaktig förfrågan",
    "Please sign in": "Logga in",
    "Not allowed": "Inte tillåtet",
    "Not found": "Hittades inte",
    "Conflict": "Konflikt",
    "Too large": "För stort",
    "Please check your input": "Kontrollera uppgifterna",
    "Too many attempts": "För många försök",
    "Temporarily unavailable": "Tillfälligt otillgänglig",
    "Something went wrong": "Något gick fel",
    "the form has expired or came from another site; reload the page and try again":
        "formuläret har gått ut eller kom från en annan webbplats; ladda om sidan och försök"
        " igen",
    "this page is not available to your role": "sidan är inte tillgänglig för din roll",
    "please sign in": "logga in",
    "not found": "hittades inte",
}
